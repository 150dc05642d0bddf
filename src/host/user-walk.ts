import { constants } from "node:fs";
import type { Stats } from "node:fs";
import { open, readlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { posix } from "node:path";
import type { Claim, VerifiedDir, WalkMemo } from "./walk-memo.js";
import type { Resumed } from "./walk-resume.js";
import { resume } from "./walk-resume.js";
import { pathFlags, statHandle } from "./walk-memo.js";
import type { Refusal, UserFileKind, UserFileRefusal } from "./user-refusal.js";
import { failure, refuse } from "./user-refusal.js";

/*
 * Reading inside a tree a watched user controls (runtime dir, rootlesskit state dir, /tmp dirs),
 * the way runc's securejoin and systemd's chase() do it: every component is opened with O_PATH and
 * O_NOFOLLOW relative to the directory verified before it (through /proc/self/fd/N, Node has no
 * openat), checked with fstat on that descriptor, and the file is read through a reopen of the
 * same descriptor, so what was checked is what is read. O_PATH opens nothing (no FIFO wait, no
 * device side effect), and every call goes through libuv's thread pool: nothing a user planted
 * can stop the event loop.
 */

/** Symlinks followed in a path before giving up (the kernel's own limit, MAXSYMLINKS). */
const maxSymlinks = 40;
/** The longest path walked: PATH_MAX, and far more components than a runtime or state dir has. */
const maxPathBytes = 4096;
const maxComponents = 64;

export type {
  Refusal,
  UserFileKind,
  UserFileRefusal,
  UserFileState,
  UserRead,
  UserStat,
} from "./user-refusal.js";
export { failure, refuse } from "./user-refusal.js";

/** The exporter's own uid: what it owns is not the watched user's to plant. */
const ownUid = (): number => process.geteuid?.() ?? -1;

/**
 * A directory on the way to a user's file: the user's own, or root's where the user could pass
 * too (searchable by others: /, /home, /run/user, /tmp). Root's 0700 /root is not on the way to
 * anything of a user's, so nothing behind it is opened, stat'ed or told apart by its absence.
 */
function passable(stats: Stats, uid: number, own: () => number): boolean {
  if (stats.uid === uid) return true;
  // As the user itself the kernel decides; as root, the user's group memberships are not known.
  return stats.uid === 0 && ((stats.mode & 0o001) !== 0 || uid === own());
}

/** Closes in the background: nothing waits on a close, and a close of what we opened cannot fail us. */
/** Within the walk's bounds: 4,096 bytes, fewer than 64 directories above the name. */
export function walkable(
  path: string,
  parents = posix.normalize(path).split("/").filter(Boolean).length - 1,
): boolean {
  return path.length <= maxPathBytes && parents < maxComponents;
}

export function release(handle: FileHandle): void {
  handle.close().catch(() => undefined);
}

const at = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

/**
 * The directory that holds `path`, every component verified: a directory (a symlink only when
 * root or the exporter itself made it in a directory the user cannot write), owned by root, the
 * user or the exporter's own uid. The caller closes the handle.
 */
async function openParent(
  path: string,
  uid: number,
  memo: WalkMemo | undefined,
): Promise<{ ok: true; dir: FileHandle; name: string; walked: string; closed: boolean } | Refusal> {
  // Missing by the cycle's memo alone: the answer of the walk below, without it.
  const gone = path.length <= maxPathBytes ? memo?.missingAt(path, uid, ownUid) : undefined;
  if (gone !== undefined) return failure(gone, { code: "ENOENT" });
  const parts = posix.normalize(path).split("/").filter(Boolean);
  const name = parts.pop();
  if (!path.startsWith("/") || name === undefined || name === "..")
    return refuse("io_error", `${path} is not an absolute path to a file`);
  // A user's tree 128,000 directories deep costs seconds a walk: no real path is that long.
  if (!walkable(path, parts.length))
    return refuse("io_error", `a path of ${parts.length + 1} components is too long to walk`);
  // The directories this walk verifies first in the cycle (resume claims them): other walks
  // wait for its look at each, and every one is settled by the time this walk returns.
  const held = { claim: noClaim };
  try {
    // geteuid is a system call: asked only when a walk needs it (most never do), not per component.
    const resumed = memo
      ? await resume(memo, parts, name, uid, ownUid, (claim) => (held.claim = claim))
      : undefined;
    if (resumed?.kind === "missing")
      return failure(resumed.last ? path : resumed.path, { code: "ENOENT" });
    return await walkFrom(resumed, parts, name, uid, memo, held.claim);
  } finally {
    held.claim.settleAll();
  }
}

const noClaim: Claim = { settle: () => undefined, settleAll: () => undefined };

/** openParent's walk from the prefix `resumed` reopened (else from `/`) to `name`'s directory. */
async function walkFrom(
  resumed: (Resumed & { kind: "dir" }) | undefined,
  names: readonly string[],
  name: string,
  uid: number,
  memo: WalkMemo | undefined,
  claim: Claim,
): Promise<{ ok: true; dir: FileHandle; name: string; walked: string; closed: boolean } | Refusal> {
  const own = ownUid;
  let hops = 0;
  let parts = resumed ? names.slice(resumed.depth) : [...names];
  let dir: FileHandle | undefined;
  let walked = "";
  // The last directory verified in the memo, while every one from `/` was root's and root-bound
  // (null once the chain is broken: a user's directory, or reached from another's).
  let chain: VerifiedDir | undefined | null;
  if (resumed) ({ dir, walked, entry: chain } = resumed);
  else dir = await open("/", pathFlags | constants.O_DIRECTORY);
  let dirOwner = 0;
  const bound = (): boolean => chain !== null && (chain?.rootBound ?? true);
  // Only root may add a name to the directory walked: a name missing there stays missing.
  const closed = (): boolean => chain?.closed === true;
  try {
    while (parts.length > 0) {
      const part = parts.shift() ?? "";
      const here = `${walked}/${part}`;
      let next: FileHandle;
      try {
        next = await open(at(dir, part), pathFlags);
      } catch (err) {
        if (memo && closed() && (err as NodeJS.ErrnoException).code === "ENOENT")
          memo.markMissing(here);
        return failure(here, err);
      }
      let stats: Stats;
      try {
        stats = await statHandle(next);
      } catch (err) {
        release(next);
        return failure(here, err);
      }
      if (stats.isSymbolicLink()) {
        release(next);
        const trusted = [0, own()];
        if (!trusted.includes(stats.uid) || !trusted.includes(dirOwner) || ++hops > maxSymlinks)
          return refuse(
            "symlink",
            `${here} is a symbolic link owned by uid ${stats.uid}, not followed`,
          );
        const target = await readlink(at(dir, part));
        // Resolved like the kernel would, from the root or from here, then walked again.
        const rest = posix.normalize(
          posix.join(target.startsWith("/") ? "/" : walked || "/", target, ...parts),
        );
        parts = rest.split("/").filter(Boolean);
        // Another way now: the directories claimed on the old one are not this walk's to look at.
        claim.settleAll();
        release(dir);
        dir = await open("/", pathFlags | constants.O_DIRECTORY);
        dirOwner = 0;
        walked = "";
        chain = undefined;
        continue;
      }
      if (!stats.isDirectory()) {
        release(next);
        return refuse("not_directory", `${here} is not a directory`);
      }
      if (!passable(stats, uid, own)) {
        release(next);
        return refuse(
          "foreign_owner",
          stats.uid === 0
            ? `directory ${here} belongs to root and is closed to uid ${uid}`
            : `directory ${here} belongs to uid ${stats.uid}`,
        );
      }
      chain =
        memo && bound() && stats.uid === 0 ? memo.verify(here, stats, chain ?? undefined) : null;
      // This walk's look at `here` is over: the walks waiting for it go on (from the memo or not).
      if (chain === null) claim.settleAll();
      else claim.settle(here);
      release(dir);
      dir = next;
      dirOwner = stats.uid;
      walked = here;
    }
    const parent = dir;
    dir = undefined; // the caller's to close now
    return { ok: true, dir: parent, name, walked, closed: closed() };
  } finally {
    if (dir) release(dir);
  }
}

const kindOk: Record<UserFileKind, (s: Stats) => boolean> = {
  file: (s) => s.isFile(),
  directory: (s) => s.isDirectory(),
  socket: (s) => s.isSocket(),
};
const kindRefusal: Record<UserFileKind, UserFileRefusal> = {
  file: "not_regular",
  directory: "not_directory",
  socket: "not_socket",
};

/**
 * The user's own, and nobody else's: not root's, not the exporter's (a root exporter told to read
 * /root/d/child_pid or to connect to root's socket by a user's --state-dir reads and connects to
 * nothing). A hard link the user made to someone else's file keeps that file's owner.
 */
const ownedBy = (stats: Stats, uid: number): boolean => stats.uid === uid;

/** A last component opened with O_PATH and checked (the caller closes it), or why not. */
export type Opened =
  { ok: true; handle: FileHandle; stats: Stats } | (Refusal & { readonly stats?: Stats });

/** Opens the last component with O_PATH and checks it; the caller closes the handle. */
export async function openChecked(
  path: string,
  uid: number,
  kind: UserFileKind,
  memo?: WalkMemo,
): Promise<Opened> {
  const parent = await openParent(path, uid, memo);
  if (!parent.ok) return parent;
  let handle: FileHandle;
  try {
    handle = await open(at(parent.dir, parent.name), pathFlags);
  } catch (err) {
    if (memo && parent.closed && (err as NodeJS.ErrnoException).code === "ENOENT")
      memo.markMissing(`${parent.walked}/${parent.name}`);
    return failure(path, err);
  } finally {
    release(parent.dir);
  }
  return checkOpened(handle, path, uid, kind);
}

/** The checks of a last component opened with O_PATH: a `kind` of the user's own, no symlink. */
export async function checkOpened(
  handle: FileHandle,
  path: string,
  uid: number,
  kind: UserFileKind,
): Promise<Opened> {
  try {
    const stats = await statHandle(handle);
    let refusal: Refusal | undefined;
    if (stats.isSymbolicLink())
      refusal = refuse("symlink", `${path} is a symbolic link, not followed`);
    else if (!kindOk[kind](stats))
      refusal = refuse(
        kindRefusal[kind],
        `${path} is not a ${kind === "file" ? "regular file" : kind}`,
      );
    else if (!ownedBy(stats, uid))
      refusal = refuse("foreign_owner", `${path} belongs to uid ${stats.uid}, not ${uid}`);
    if (refusal) {
      release(handle);
      return { ...refusal, stats };
    }
    return { ok: true, handle, stats };
  } catch (err) {
    release(handle);
    return failure(path, err);
  }
}
