import { Dirent } from "node:fs";
import { opendir, statfs } from "node:fs/promises";
import type { Refusal } from "./user-walk.js";
import { failure, openChecked, refuse, release } from "./user-walk.js";
import type { WalkMemo } from "./walk-memo.js";

/*
 * The filesystem under a directory of a watched user's (dockerd's data root): statfs(2) and
 * whether the filesystem gives entry types in getdents (d_type), both through the O_PATH
 * descriptor of the directory user-walk.ts verified, so what was checked is what is measured.
 * Nothing is created: moby's own d_type test (fsutils.SupportsDType) makes a file, which an
 * exporter must not do in a user's tree; the types of the entries already there tell the same.
 */

/** Magic numbers of <linux/magic.h> (f_type), by the name moby's `Backing Filesystem` uses. */
const magicNames: ReadonlyMap<number, string> = new Map([
  [0xef53, "extfs"],
  [0x58465342, "xfs"],
  [0x9123683e, "btrfs"],
  [0x01021994, "tmpfs"],
  [0x858458f6, "ramfs"],
  [0x2fc12fc1, "zfs"],
  [0xf2f52010, "f2fs"],
  [0xca451a4e, "bcachefs"],
  [0xf15f, "ecryptfs"],
  [0x794c7630, "overlayfs"],
  [0x61756673, "aufs"],
  [0x6969, "nfs"],
  [0xff534d42, "cifs"],
  [0xfe534d42, "smb2"],
  [0x00c36400, "ceph"],
  [0x65735546, "fuse"],
]);

/** Filesystems on the machine itself: a stat there cannot hang on a network (see MountTable). */
const localNames: ReadonlySet<string> = new Set([
  "extfs",
  "xfs",
  "btrfs",
  "tmpfs",
  "ramfs",
  "zfs",
  "f2fs",
  "bcachefs",
  "ecryptfs",
  "overlayfs",
]);

/** The filesystem's name from its magic number, or "unknown". */
export function filesystemName(magic: number): string {
  return magicNames.get(magic >>> 0) ?? "unknown";
}

/** Entries looked at for their type: a data root has about ten (buildkit, containers, image...). */
const typedEntries = 8;

export interface UserFilesystem {
  readonly ok: true;
  /** `filesystemName` of f_type. */
  readonly fsName: string;
  readonly sizeBytes: number;
  /** What an unprivileged user may still write (f_bavail, `df`'s Avail). */
  readonly freeBytes: number;
  /** Absent where the filesystem has no fixed inode count (btrfs, ZFS report f_files 0). */
  readonly inodes?: number;
  readonly freeInodes?: number;
  /**
   * Whether getdents gave the entries' types: false when every entry read came back DT_UNKNOWN
   * (XFS made with ftype=0, ext4 without `filetype`), absent when the directory was empty or is
   * on a network filesystem (not listed there: Node stats each untyped entry on the event loop).
   */
  readonly dtype?: boolean;
}

/**
 * statfs of a directory of `uid`'s, reached through the walk (no symlink followed, every
 * component the user's or root's), and the d_type of its first entries on a local filesystem.
 */
export async function userFilesystem(
  path: string,
  uid: number,
  memo?: WalkMemo,
): Promise<UserFilesystem | Refusal> {
  const opened = await openChecked(path, uid, "directory", memo);
  if (!opened.ok) return refuse(opened.state, opened.detail);
  const at = `/proc/self/fd/${opened.handle.fd}`;
  try {
    const fs = await statfs(at);
    const fsName = filesystemName(fs.type);
    const counted = fs.files > 0;
    const dtype = localNames.has(fsName) ? await entryTypesKnown(at) : undefined;
    return {
      ok: true,
      fsName,
      sizeBytes: fs.blocks * fs.bsize,
      freeBytes: fs.bavail * fs.bsize,
      ...(counted && { inodes: fs.files, freeInodes: fs.ffree }),
      ...(dtype !== undefined && { dtype }),
    };
  } catch (err) {
    return failure(path, err);
  } finally {
    release(opened.handle);
  }
}

/**
 * Node gives a plain Dirent when getdents gave the type, and lstats the entry (a subclass of
 * Dirent) when it was DT_UNKNOWN: the prototype tells which. Read-only, a few entries.
 */
async function entryTypesKnown(dirPath: string): Promise<boolean | undefined> {
  const dir = await opendir(dirPath, { bufferSize: typedEntries });
  let untyped = 0;
  try {
    for (let i = 0; i < typedEntries; i++) {
      const entry = await dir.read();
      if (entry === null) break;
      if (Object.getPrototypeOf(entry) === Dirent.prototype) return true;
      untyped++;
    }
  } catch {
    // An entry gone between getdents and Node's lstat of it: the types stay untold.
    return undefined;
  } finally {
    await dir.close().catch(() => undefined);
  }
  return untyped > 0 ? false : undefined;
}
