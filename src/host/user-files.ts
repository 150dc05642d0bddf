import { constants, lstat } from "node:fs";
import type { Stats } from "node:fs";
import { open, opendir } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { readNamesCapped } from "./files.js";
import type { Refusal, UserFileRefusal, UserRead, UserStat, UserFileKind } from "./user-walk.js";
import { failure, openChecked, refuse, release, walkable } from "./user-walk.js";
import type { WalkMemo } from "./walk-memo.js";
import { pathFlags, statHandle } from "./walk-memo.js";

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

/**
 * An lstat of `name` through `dir`'s descriptor: the name's own link is never followed. Through
 * fs's callback, answered as a NameStat: no stat array and no rejection a call (most names a
 * live user's look asks for are missing), the same system call.
 */
function lstatName(dir: FileHandle, name: string): Promise<NameStat> {
  return new Promise((resolve) =>
    lstat(`/proc/self/fd/${dir.fd}/${name}`, (err, stats) =>
      resolve(
        err
          ? { ok: false, state: err.code === "ENOENT" ? "missing" : "io_error" }
          : { ok: true, stats },
      ),
    ),
  );
}

/** A name that is no single component of a directory: never looked at. */
const notAName = (name: string): boolean => name.includes("/") || name === "." || name === "..";

/** lstat of each of `names` through `dir`'s descriptor: the name's own link is never followed. */
async function lstatNames(
  dir: FileHandle,
  names: readonly string[],
): Promise<Map<string, NameStat>> {
  const entries = new Map<string, NameStat>();
  for (const name of names) if (!notAName(name)) entries.set(name, await lstatName(dir, name));
  return entries;
}

/**
 * `name` opened through `dir`'s descriptor with O_PATH|O_NOFOLLOW (nothing is opened for reading,
 * a symlink is the link itself) and the descriptor's fstat: the lstat of the name (the same inode's
 * stats, the link's own for a symlink), and a handle on exactly what was stat'ed, held for a look
 * inside it. An open that fails answers as an lstat's failure would (ENOENT: missing).
 */
async function openName(
  dir: FileHandle,
  name: string,
): Promise<{ readonly found: NameStat; readonly handle?: FileHandle }> {
  let handle: FileHandle;
  try {
    handle = await open(`/proc/self/fd/${dir.fd}/${name}`, pathFlags);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    return { found: { ok: false, state: missing ? "missing" : "io_error" } };
  }
  try {
    return { found: { ok: true, stats: await statHandle(handle) }, handle };
  } catch {
    release(handle);
    return { found: { ok: false, state: "io_error" } };
  }
}

/**
 * lstat of `names` in a directory of the user's: one walk to it (checked like a file's parents),
 * then one lstat of each name through the descriptor that was checked (the name's own link is
 * never followed, nothing is opened). What each entry is, and whose, is the caller's to judge.
 * `nested`: a directory among `names` (the state dir in the runtime dir). Its name is opened
 * through the same descriptor (O_PATH, O_NOFOLLOW) instead of lstat'ed, and the descriptor's fstat
 * is its entry (openName); when that says a directory (not a symlink) the user owns, which is what
 * the last step of a walk to it checks (checkOpened), its own names are lstat'ed through that
 * descriptor: the look a walk to it would make, without walking to the directory again, and
 * without a second look at the name (an lstat, then an open and an fstat) that a swap between
 * the two could tell apart.
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
  // Past the walk's bounds, no look inside: the caller's own walk to it refuses it, as before.
  const inner = nested && walkable(`${path}/${nested.name}`) ? nested : undefined;
  let held: FileHandle | undefined;
  try {
    const entries = new Map<string, NameStat>();
    for (const name of names) {
      // A name asked twice is looked at once (a second open of the nested name would leak the
      // first descriptor, and a second look could differ from the one its handle was opened by).
      if (notAName(name) || entries.has(name)) continue;
      if (name !== inner?.name) {
        entries.set(name, await lstatName(opened.handle, name));
        continue;
      }
      const look = await openName(opened.handle, name);
      entries.set(name, look.found);
      held = look.handle;
    }
    const found = inner && entries.get(inner.name);
    // The checks of checkOpened: a directory (so no symlink) of the user's own.
    if (!held || !inner || !found?.ok || !found.stats.isDirectory() || found.stats.uid !== uid)
      return { ok: true, dir: opened.stats, entries };
    const own = {
      ok: true as const,
      dir: found.stats,
      entries: await lstatNames(held, inner.names),
    };
    return { ok: true, dir: opened.stats, entries, nested: own };
  } finally {
    if (held) release(held);
    release(opened.handle);
  }
}
