import { readText } from "../../host/files.js";
import type { MountTable } from "../../host/mount-table.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";

/**
 * Where libsubid (newuidmap, newgidmap, getsubids, rootlesskit's `--subid-source=auto`) takes
 * subordinate IDs from: the files, or the module `subid:` in /etc/nsswitch.conf names, loaded as
 * `libsubid_<name>.so` (shadow's lib/nss.c).
 */
export type SubidSource =
  | {
      readonly ok: true;
      /** The module; absent for `files`, no `subid:` line or no nsswitch.conf at all. */
      readonly module?: string;
      /** Something libsubid reads differently from what the line seems to say. */
      readonly note?: string;
    }
  | { readonly ok: false; readonly detail: string };

export const nsswitchPath = "/etc/nsswitch.conf";
/** A real nsswitch.conf is under 2 KB. */
export const maxNsswitchBytes = 64 * 1024;
/** libsubid refuses a longer module name and reads the files instead. */
const maxModuleName = 50;
/** A module name that may become a label value and part of a library's file name. */
const plainModule = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

/**
 * The `subid:` entry as shadow's nss_init reads it (4.13 to 4.17): the first line, not a `#`
 * comment, of at least 8 bytes with its newline, starting with `subid:` in any case and naming
 * something; its first word is the module, `files` meaning none. Leading blanks make no entry.
 */
export function parseSubidSource(text: string): SubidSource {
  if (text.includes("\0")) return { ok: false, detail: `${nsswitchPath} holds a NUL byte` };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const withNewline = i < lines.length - 1 ? line.length + 1 : line.length;
    if (line.startsWith("#") || withNewline < 8) continue;
    if (line.slice(0, 6).toLowerCase() !== "subid:") continue;
    const word = /^[ \t\r\v\f]*([^ \t\r\v\f]*)/.exec(line.slice(6))?.[1] ?? "";
    if (word === "") continue;
    if (word === "files") return { ok: true };
    if (word.length > maxModuleName) {
      return {
        ok: true,
        note: `${nsswitchPath} line ${i + 1}: the subid module name is longer than ${maxModuleName} characters, so libsubid uses the files`,
      };
    }
    if (!plainModule.test(word)) {
      return {
        ok: false,
        detail: `${nsswitchPath} line ${i + 1}: the subid module name (${word.length} characters) is not a plain name of letters, digits, '_', '.', '+' or '-'`,
      };
    }
    return { ok: true, module: word };
  }
  return { ok: true };
}

/** nsswitch.conf under the root, bounded; a missing file is libsubid's default, the files. */
export async function readSubidSource(roots: HostRoots, mounts: MountTable): Promise<SubidSource> {
  const result = await readText(mounts, rootPath(roots, nsswitchPath), maxNsswitchBytes);
  if (result.ok) return parseSubidSource(result.text);
  if (result.reason === "missing") return { ok: true };
  return { ok: false, detail: `${nsswitchPath} cannot be read (${result.detail})` };
}
