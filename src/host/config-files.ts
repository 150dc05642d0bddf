import { readFileSync, statSync } from "node:fs";

/*
 * The exporter's own files, named by its operator (the web config, its TLS material) or shipped
 * with it (package.json): read whole and synchronously, at start and when they change.
 */

/** The file's text; throws the fs error (its `code` says why) when it cannot be read. */
export function readConfigText(path: string | URL): string {
  return readFileSync(path, "utf8");
}

/** A file is read again only when this changes (an edit, or a rename over it); "absent" if none. */
export function configFileIdentity(path: string): string {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (!stats) return "absent";
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}
