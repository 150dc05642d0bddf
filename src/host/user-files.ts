import { constants } from "node:fs";
import type { Stats } from "node:fs";
import { lstat, open, opendir } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { readNamesCapped } from "./files.js";
import type { Refusal, UserFileRefusal, UserRead, UserStat, UserFileKind } from "./user-walk.js";
import { checkOpened, failure, openChecked, refuse, release, walkable } from "./user-walk.js";
import type { WalkMemo } from "./walk-memo.js";
import { pathFlags } from "./walk-memo.js";

/** Stat, read, list and connect inside a user's tree, through the walk of user-walk.ts. */

/**
 * lstat of a path in a user's tree, refused unless it is a `kind` owned by `uid`; a refusal for
 * an existing path carries its stats (the runtime dir's owner and mode are facts too).
 */
export async function statUserPath(
  path: string,
  uid: number,
  kind: UserFileKind,
  memo?: WalkMemo,
): Promise<UserStat> {
  const opened = await openChecked(path, uid, kind, memo);
  if (!opened.ok) return opened;
  release(opened.handle);
  return { ok: true, stats: opened.stats };
}

/** A unix socket of the user's (docker.sock, api.sock): lstat-like, for a verdict only. */
export function checkUserSocket(path: string, uid: number, memo?: WalkMemo): Promise<UserStat> {
  return statUserPath(path, uid, "socket", memo);
}

/**
 * Runs `use` with a path that connects to exactly the socket that was checked: the magic link of
 * its O_PATH descriptor, held open until `use` settles. connect(2) has no O_NOFOLLOW, so a socket
 * checked by name could be swapped for a symlink (to root's /run/docker.sock) before the connect.
 */
export async function withUserSocket<T>(
  path: string,
  uid: number,
  use: (connectPath: string) => Promise<T>,
): Promise<{ readonly ok: true; readonly value: T } | Refusal> {
  const opened = await openChecked(path, uid, "socket");
  if (!opened.ok) return refuse(opened.state, opened.detail);
  try {
    return { ok: true, value: await use(`/proc/self/fd/${opened.handle.fd}`) };
  } finally {
    release(opened.handle);
  }
}

/** A small regular file of the user's, at most `maxBytes`; details never hold its content. */
export async function readUserFile(
  path: string,
  uid: number,
  maxBytes: number,
  memo?: WalkMemo,
): Promise<UserRead> {
  const opened = await openChecked(path, uid, "file", memo);
  if (!opened.ok) return refuse(opened.state, opened.detail);
  const { handle, stats } = opened;
  if (stats.size > maxBytes) {
    release(handle);
    return refuse("too_large", `${path} is larger than ${maxBytes} bytes`);
  }
  let file: FileHandle | undefined;
  try {
    // The same inode as checked (the descriptor's magic link), opened for reading; O_NONBLOCK in
    // case it is not what fstat said a moment ago.
    file = await open(
      `/proc/self/fd/${handle.fd}`,
      constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
    const buffer = Buffer.alloc(maxBytes + 1);
    let used = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, used, buffer.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
      if (used > maxBytes) return refuse("too_large", `${path} is larger than ${maxBytes} bytes`);
      // The size fstat gave, read whole: no second read to see the end (a round trip less).
      if (used === stats.size) break;
    }
    return { ok: true, text: buffer.toString("utf8", 0, used), stats };
  } catch (err) {
    return failure(path, err);
  } finally {
    if (file) release(file);
    release(handle);
  }
}

export type UserList =
  | { readonly ok: true; readonly names: readonly string[]; readonly complete: boolean }
  | { readonly ok: false; readonly state: UserFileRefusal; readonly detail: string };

/**
 * The first `max` names in a directory of the user's (checked like a file's parents, read
 * through the descriptor that was checked, a batch at a time off the event loop): a user's
 * directory may hold 300,000 entries, or be root's /root behind a symlink or a daemon.json.
 */
export async function listUserDir(
  path: string,
  uid: number,
  max: number,
  memo?: WalkMemo,
): Promise<UserList> {
  const opened = await openChecked(path, uid, "directory", memo);
  if (!opened.ok) return refuse(opened.state, opened.detail);
  try {
    const dir = await opendir(`/proc/self/fd/${opened.handle.fd}`, {
      bufferSize: Math.min(max, 128),
    });
    return { ok: true, ...(await readNamesCapped(dir, max)) };
  } catch (err) {
    return failure(path, err);
  } finally {
    release(opened.handle);
  }
}

/**
 * Which of `names` are missing in a directory of the user's: one walk to it (checked like a
 * file's parents), then one `O_PATH|O_NOFOLLOW` open of each name through the descriptor that
 * was checked (nothing is followed, nothing opened for reading). A name that is there, or whose
 * open failed otherwise, is not missing. The directory's own refusal when it is not the user's.
 */
export async function missingNames(
  path: string,
  uid: number,
  names: readonly string[],
  memo?: WalkMemo,
): Promise<{ readonly ok: true; readonly missing: ReadonlySet<string> } | Refusal> {
  const opened = await openChecked(path, uid, "directory", memo);
  if (!opened.ok) return refuse(opened.state, opened.detail);
  try {
    const missing = new Set<string>();
    for (const name of names) {
      if (name.includes("/") || name === "." || name === "..") continue;
      try {
        release(await open(`/proc/self/fd/${opened.handle.fd}/${name}`, pathFlags));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") missing.add(name);
      }
    }
    return { ok: true, missing };
  } finally {
    release(opened.handle);
  }
}

/** An lstat's answer, for the collectors' keys (they import no node:fs). */
export type EntryStats = Stats;

/** What statUserNames found of one name: its lstat, or why not (missing, another error). */
export type NameStat =
  | { readonly ok: true; readonly stats: Stats }
  | { readonly ok: false; readonly state: "missing" | "io_error" };

/** What statUserNames found in a directory of the user's. */
export type NamesFound =
  | {
      readonly ok: true;
      readonly dir: Stats;
      readonly entries: ReadonlyMap<string, NameStat>;
      /** The directory `nested` named, looked at the same way (when it is one of the user's). */
      readonly nested?: NamesFound;
    }
  | (Refusal & { readonly stats?: Stats });

/** lstat of each of `names` through `dir`'s descriptor: the name's own link is never followed. */
async function lstatNames(
  dir: FileHandle,
  names: readonly string[],
): Promise<Map<string, NameStat>> {
  const entries = new Map<string, NameStat>();
  for (const name of names) {
    if (name.includes("/") || name === "." || name === "..") continue;
    try {
      entries.set(name, { ok: true, stats: await lstat(`/proc/self/fd/${dir.fd}/${name}`) });
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      entries.set(name, { ok: false, state: missing ? "missing" : "io_error" });
    }
  }
  return entries;
}

/**
 * lstat of `names` in a directory of the user's: one walk to it (checked like a file's parents),
 * then one lstat of each name through the descriptor that was checked (the name's own link is
 * never followed, nothing is opened). What each entry is, and whose, is the caller's to judge.
 * `nested`: a directory among `names` (the state dir in the runtime dir), when the lstat says it
 * is a directory of the user's, opened through the same descriptor and checked as the last step
 * of a walk to it is (O_PATH, O_NOFOLLOW, fstat: a directory the user owns), and its own names
 * lstat'ed: the look a walk to it would make, without walking to the directory again.
 */
export async function statUserNames(
  path: string,
  uid: number,
  names: readonly string[],
  memo?: WalkMemo,
  nested?: { readonly name: string; readonly names: readonly string[] },
): Promise<NamesFound> {
  // A refusal of a directory that is there (someone else's) keeps its stats, as statUserPath's.
  const opened = await openChecked(path, uid, "directory", memo);
  if (!opened.ok) return opened;
  try {
    const entries = await lstatNames(opened.handle, names);
    const inner = nested && entries.get(nested.name);
    if (!nested || !inner?.ok || !inner.stats.isDirectory() || inner.stats.uid !== uid)
      return { ok: true, dir: opened.stats, entries };
    const innerPath = `${path}/${nested.name}`;
    // Past the walk's bounds, no look: the caller's own walk to it refuses it, as before.
    if (!walkable(innerPath)) return { ok: true, dir: opened.stats, entries };
    let handle: FileHandle;
    try {
      handle = await open(`/proc/self/fd/${opened.handle.fd}/${nested.name}`, pathFlags);
    } catch (err) {
      return { ok: true, dir: opened.stats, entries, nested: failure(innerPath, err) };
    }
    const checked = await checkOpened(handle, innerPath, uid, "directory");
    if (!checked.ok) return { ok: true, dir: opened.stats, entries, nested: checked };
    try {
      const found = {
        ok: true as const,
        dir: checked.stats,
        entries: await lstatNames(handle, nested.names),
      };
      return { ok: true, dir: opened.stats, entries, nested: found };
    } finally {
      release(handle);
    }
  } finally {
    release(opened.handle);
  }
}
