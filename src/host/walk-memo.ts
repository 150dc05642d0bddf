import { constants, fstat } from "node:fs";
import type { Stats } from "node:fs";
import { open, opendir } from "node:fs/promises";
import { readNamesCapped } from "./files.js";
import type { FileHandle } from "node:fs/promises";

/*
 * One cycle's memo of what the walks of user-walk.ts learnt about root's directories on the way
 * to users' files (`/`, `/home`, `/run/user`, a rootfs prefix). A name in a directory that root
 * owns and nobody else may write (group and others without write, or the sticky bit, where only
 * an entry's owner may rename or remove it) is bound by root alone: a watched user cannot swap
 * it. So within one cycle a walk may reopen such a prefix by its path in one open, check that it
 * is still the very directory verified (same device, inode, owner root and mode), and walk only
 * the rest a component at a time. A name found missing in such a directory that is not writable by
 * group or others at all (sticky or not) is root's fact as well (only root can create it), and is
 * not looked up again in the cycle; such a directory is listed once a cycle (through the handle
 * verified), and a name not in the listing is missing without a lookup. Nothing a user owns is kept: the
 * user's components and the last one are opened and checked each time they are used. Made per
 * cycle (collectors/scans.ts, walkMemo), never module-level: a directory root changes between
 * cycles is walked afresh.
 */

/** O_PATH from <asm-generic/fcntl.h> (x86_64, arm64, arm, ppc64le, s390x, riscv64); Node does not export it. */
const O_PATH = 0o10000000;
export const pathFlags = O_PATH | constants.O_NOFOLLOW;

/** A root-owned directory verified this cycle, reached without a symlink from `/`. */
export interface VerifiedDir {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  /** Every directory from `/` to this one, this one included, is searchable by others. */
  readonly openToOthers: boolean;
  /** Names in it are bound by root alone (not writable by group or others, or sticky). */
  readonly rootBound: boolean;
  /** Nobody but root may even add a name to it (not writable by group or others, sticky or not). */
  readonly closed: boolean;
}

/** The most names of a closed directory listed once a cycle (/home, /run/user on a big host). */
const maxListed = 65_536;

/**
 * A walk's claim on directories it is about to verify (claim): the walks that need one of them
 * wait for it (pending) instead of walking to it too. `settle` ends the wait for one, `settleAll`
 * for the rest; a claim only ever settles its own waits.
 */
export interface Claim {
  settle(path: string): void;
  settleAll(): void;
}

export class WalkMemo {
  private readonly dirs = new Map<string, VerifiedDir>();
  private readonly missing = new Set<string>();
  /** Names of closed directories, listed once a cycle; undefined when there were too many. */
  private readonly listings = new Map<string, Promise<ReadonlySet<string> | undefined>>();
  /** The same listings once read in full, for an answer without a walk (missingNow). */
  private readonly readListings = new Map<string, ReadonlySet<string>>();
  /** Directories a walk of this cycle is verifying now (claim), and how its wait ends. */
  private readonly pending = new Map<string, { readonly done: Promise<void>; end(): void }>();

  /**
   * `paths` (the directories a walk will open next, in order, each in the one before) claimed by
   * that walk: a later walk whose own way goes through one of them waits for this walk's look at
   * it (pending) rather than making the same look. Paths verified, missing or claimed already are
   * left out. The first walks of a cycle start together (eight users at once) before the memo
   * knows anything: without this, each walked `/`, `/tmp`, the rootfs and `/run/user` itself.
   */
  claim(paths: readonly string[]): Claim {
    const mine = new Map<string, { readonly done: Promise<void>; end(): void }>();
    for (const path of paths) {
      if (this.dirs.has(path) || this.missing.has(path) || this.pending.has(path)) continue;
      let end = (): void => undefined;
      const done = new Promise<void>((resolve) => (end = resolve));
      const wait = { done, end };
      this.pending.set(path, wait);
      mine.set(path, wait);
    }
    const settle = (path: string): void => {
      const wait = mine.get(path);
      if (!wait) return;
      mine.delete(path);
      if (this.pending.get(path) === wait) this.pending.delete(path);
      wait.end();
    };
    return {
      settle,
      settleAll: () => {
        for (const path of [...mine.keys()]) settle(path);
      },
    };
  }

  /** The end of another walk's look at `path` (claim), when one is under way. */
  pendingLook(path: string): Promise<void> | undefined {
    return this.pending.get(path)?.done;
  }

  /** The names of the closed directory `path` if it was listed this cycle. */
  listed(path: string): Promise<ReadonlySet<string> | undefined> | undefined {
    return this.listings.get(path);
  }

  /** Lists `path` through `dir`, its verified handle, once a cycle. */
  list(path: string, dir: FileHandle): Promise<ReadonlySet<string> | undefined> {
    let names = this.listings.get(path);
    if (!names) {
      names = opendir(`/proc/self/fd/${dir.fd}`, { bufferSize: 128 })
        .then((handle) => readNamesCapped(handle, maxListed))
        .then((read) => {
          if (!read.complete) return undefined;
          const set = new Set(read.names);
          this.readListings.set(path, set);
          return set;
        })
        .catch(() => undefined);
      this.listings.set(path, names);
    }
    return names;
  }

  /**
   * The component of `path` (absolute, normalized) that this cycle's memo alone says is missing,
   * with `path`'s walk ending there: what `resume` answers, without the walk and its promises
   * (most users of a host have no runtime dir and no home, and each such walk cost ~10 µs). Each
   * directory on the way verified and passable by `uid` (open to others all the way, or the
   * exporter's own uid), then a component found missing in one of them, or one missing from the
   * cycle's listing of the last closed one verified. Undefined when it cannot say so.
   */
  missingAt(path: string, uid: number, own: () => number): string | undefined {
    if (!plainAbsolute.test(path)) return undefined;
    let key = "";
    let entry: VerifiedDir | undefined;
    for (let at = 0; ;) {
      const slash = path.indexOf("/", at + 1);
      const here = slash === -1 ? path : path.slice(0, slash);
      if (this.missing.has(here)) return here;
      if (slash === -1) break;
      const next = this.dirs.get(here);
      if (!next || !(next.openToOthers || uid === own())) break;
      key = here;
      entry = next;
      at = slash;
    }
    if (!entry?.closed) return undefined;
    const names = this.readListings.get(key);
    const end = path.indexOf("/", key.length + 1);
    const name = path.slice(key.length + 1, end === -1 ? undefined : end);
    if (!names || names.has(name)) return undefined;
    const gone = `${key}/${name}`;
    this.missing.add(gone);
    return gone;
  }

  /** Whether `path` is missing by this cycle's memo alone (missingAt). */
  missingNow(path: string, uid: number, own: () => number): boolean {
    return this.missingAt(path, uid, own) !== undefined;
  }

  /** The directory verified at `path` ("" is `/`) this cycle, if any. */
  dir(path: string): VerifiedDir | undefined {
    return this.dirs.get(path);
  }

  /** Records root's directory `path` whose parent is `parent` (undefined: `/` itself). */
  verify(path: string, stats: Stats, parent: VerifiedDir | undefined): VerifiedDir {
    const others = (stats.mode & 0o001) !== 0;
    const entry: VerifiedDir = {
      dev: stats.dev,
      ino: stats.ino,
      mode: stats.mode,
      openToOthers: others && (parent?.openToOthers ?? true),
      rootBound: (stats.mode & 0o022) === 0 || (stats.mode & 0o1000) !== 0,
      closed: (stats.mode & 0o022) === 0,
    };
    this.dirs.set(path, entry);
    return entry;
  }

  /** `path` was found missing in a verified, root-bound directory this cycle. */
  isMissing(path: string): boolean {
    return this.missing.has(path);
  }

  markMissing(path: string): void {
    this.missing.add(path);
  }
}

/**
 * fstat of an open handle's descriptor through fs's callback: the same system call as
 * `handle.stat()`, without the promise API's own stat array made for every call (8.7 µs of CPU
 * a call against 6.3-6.9 µs, 20,000 calls on this machine). The handle stays open until the
 * answer is in.
 */
export function statHandle(handle: FileHandle): Promise<Stats> {
  return new Promise((resolve, reject) =>
    fstat(handle.fd, (err, stats) => (err ? reject(err) : resolve(stats))),
  );
}

/** An absolute path with no empty, `.` or `..` component, no NUL and no trailing slash. */
const plainAbsolute = /^(?:\/(?!\.\.?(?:\/|$))[^/\0]+)+$/;

/** Still the directory that was verified: the same inode, owned by root, with the same mode. */
export const sameDir = (stats: Stats, dir: VerifiedDir): boolean =>
  stats.isDirectory() &&
  stats.uid === 0 &&
  stats.dev === dir.dev &&
  stats.ino === dir.ino &&
  stats.mode === dir.mode;

/** Where a walk may start instead of `/`: the deepest prefix verified this cycle, reopened. */
export type Resumed =
  | {
      readonly kind: "dir";
      readonly dir: FileHandle;
      readonly depth: number;
      readonly walked: string;
      readonly entry: VerifiedDir;
    }
  | { readonly kind: "missing"; readonly path: string; readonly last: boolean };

/**
 * The deepest prefix of `parts` (the directories before `name`) verified this cycle and open to
 * `uid` (searchable by others at every step, or `uid` is the exporter's own), reopened by path
 * and checked to be the same directory; or a component (or `name` itself) found missing in such a
 * prefix. Undefined when nothing is known: the walk starts at `/` and meets every refusal itself.
 *
 * A component of `parts` that another walk of the cycle is verifying now (WalkMemo.claim) is
 * waited for, then looked up again. Such a wait ends when that walk's look at that directory
 * ends (verified, refused, or the walk stopped before it), not when that walk ends: it never
 * waits on what the other walk does after it (a user's own directory, which may be a hung FUSE
 * mount), only on a directory of this walk's own way, which it would otherwise open and fstat
 * itself. The components left to walk that nobody verified or claimed are claimed in `claimed`'s
 * name (the caller settles them as it walks).
 */
export async function resume(
  memo: WalkMemo,
  parts: readonly string[],
  name: string,
  uid: number,
  own: () => number,
  claimed?: (claim: Claim) => void,
): Promise<Resumed | undefined> {
  let key = "";
  let depth = 0;
  let entry: VerifiedDir | undefined;
  let unknown = false;
  for (const part of parts) {
    const here = `${key}/${part}`;
    let next = memo.dir(here);
    if (!next && !memo.isMissing(here)) {
      const look = memo.pendingLook(here);
      if (look) {
        await look;
        next = memo.dir(here);
      }
    }
    if (memo.isMissing(here)) return { kind: "missing", path: here, last: false };
    unknown = next === undefined;
    if (!next || !(next.openToOthers || uid === own())) break;
    key = here;
    entry = next;
    depth += 1;
  }
  if (depth === parts.length && memo.isMissing(`${key}/${name}`))
    return { kind: "missing", path: `${key}/${name}`, last: true };
  // The rest of the way is this walk's to verify: later walks wait for it.
  if (claimed && unknown) {
    const rest: string[] = [];
    let path = key;
    for (const part of parts.slice(depth)) rest.push((path = `${path}/${part}`));
    claimed(memo.claim(rest));
  }
  if (!entry) return undefined;
  // A closed directory listed this cycle: a name not in it is missing without an open (most
  // users of a host have no /run/user/UID, and each failed open was a thrown error).
  const next = parts[depth] ?? name;
  const listed = entry.closed ? await memo.listed(key) : undefined;
  if (listed && !listed.has(next)) {
    memo.markMissing(`${key}/${next}`);
    return { kind: "missing", path: `${key}/${next}`, last: depth === parts.length };
  }
  let dir: FileHandle | undefined;
  try {
    dir = await open(key, pathFlags | constants.O_DIRECTORY);
    if (sameDir(await statHandle(dir), entry)) {
      // Listed through the handle just checked, before the walk goes on with it.
      if (entry.closed) await memo.list(key, dir);
      return { kind: "dir", dir, depth, walked: key, entry };
    }
  } catch {
    // Gone or changed since (root's doing): the walk from `/` says what it is now.
  }
  if (dir) dir.close().catch(() => undefined);
  return undefined;
}
