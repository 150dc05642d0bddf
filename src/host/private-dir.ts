import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/*
 * The exporter's own state (the probe journal) lives in a directory only its uid can write, never
 * in a tree a watched user controls: for root /run/rootless-exporter, for a user exporter its own
 * $XDG_RUNTIME_DIR/rootless-exporter.
 */

/** Where the exporter keeps its state when nobody hands it a directory. */
export function defaultStateDir(
  env: Readonly<Record<string, string | undefined>>,
  uid = process.geteuid?.() ?? 0,
): string {
  if (uid === 0) return "/run/rootless-exporter";
  const runtime = env["XDG_RUNTIME_DIR"];
  return `${runtime && runtime.startsWith("/") ? runtime : `/run/user/${uid}`}/rootless-exporter`;
}

export class PrivateDirError extends Error {}

/**
 * Creates `dir` with mode 0700 if missing, then checks it with lstat: a directory (not a symlink),
 * owned by this process's uid, writable by nobody else. Throws PrivateDirError otherwise.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const stats = await lstat(dir);
  const uid = process.geteuid?.() ?? -1;
  if (stats.isSymbolicLink()) throw new PrivateDirError(`${dir} is a symbolic link`);
  if (!stats.isDirectory()) throw new PrivateDirError(`${dir} is not a directory`);
  if (stats.uid !== uid)
    throw new PrivateDirError(`${dir} belongs to uid ${stats.uid}, not ${uid}`);
  if ((stats.mode & 0o022) !== 0)
    throw new PrivateDirError(
      `${dir} has mode ${(stats.mode & 0o7777).toString(8)}: others can write to it`,
    );
}

/**
 * Replaces `path` (in a private dir) atomically: a fresh temp file made with O_EXCL|O_NOFOLLOW,
 * then rename, which replaces a symlink at `path` rather than writing through it.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(temp, flags, 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, path);
}

export async function removeOwnFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
