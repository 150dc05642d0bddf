import { constants, fstat } from "node:fs";
import type { Stats } from "node:fs";
import { opendir } from "node:fs/promises";
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
  /** Some path is both verified and missing (root changed it mid-cycle): missingAt's long way. */
  private mixed = false;
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
    // At once from the parent (a runtime dir in /run/user) or the grandparent (a home in a
    // missing /home): a verified directory's own way was verified before it, by the same walk,
    // and none of it is missing unless some path is both (`mixed`, root's change mid-cycle).
    const slash = path.lastIndexOf("/");
    const parent = path.slice(0, slash);
    const known = this.mixed ? undefined : this.dirs.get(parent);
    if (known && (known.openToOthers || uid === own()))
      return this.missing.has(path) ? path : this.lastOf(parent, known, path);
    if (!this.mixed && !known && this.missing.has(parent)) {
      const above = this.dirs.get(parent.slice(0, parent.lastIndexOf("/")));
      if (above && (above.openToOthers || uid === own())) return parent;
    }
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
    return entry && this.lastOf(key, entry, path);
  }

  /**
   * `path`'s answer from `key`, the deepest directory on its way verified and passable (none of
   * the way to it, and not the name after it, marked missing): that name missing when the cycle's
   * listing of `key` (closed) lacks it.
   */
  private lastOf(key: string, entry: VerifiedDir, path: string): string | undefined {
    if (!entry.closed) return undefined;
    const names = this.readListings.get(key);
    const end = path.indexOf("/", key.length + 1);
    const name = path.slice(key.length + 1, end === -1 ? undefined : end);
    if (!names || names.has(name)) return undefined;
    const gone = `${key}/${name}`;
    this.markMissing(gone);
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
    if (this.missing.has(path)) this.mixed = true;
    return entry;
  }

  /** `path` was found missing in a verified, root-bound directory this cycle. */
  isMissing(path: string): boolean {
    return this.missing.has(path);
  }

  markMissing(path: string): void {
    this.missing.add(path);
    if (this.dirs.has(path)) this.mixed = true;
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
