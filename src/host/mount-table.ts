import { readFileSync } from "node:fs";
import type { MountEntry } from "./proc-files.js";
import { mountOf, parseMountinfo } from "./proc-files.js";

/*
 * Local or not, decided from the exporter's own mount table (/proc/self/mountinfo: a procfs read
 * that touches no network filesystem), refreshed every refreshMs. On a local filesystem a
 * synchronous read of a small file costs a tenth of the CPU of a thread-pool round trip; on NFS,
 * CIFS, FUSE and the like a read can hang, so those stay asynchronous (the guide's NFS home and
 * data root).
 */
const localFilesystems: ReadonlySet<string> = new Set([
  "btrfs",
  "cgroup",
  "cgroup2",
  "devtmpfs",
  "ext2",
  "ext3",
  "ext4",
  "f2fs",
  "overlay",
  "proc",
  "ramfs",
  "squashfs",
  "sysfs",
  "tmpfs",
  "vfat",
  "xfs",
  "zfs",
]);

export interface MountTableOptions {
  /** How long one reading of the mount table is trusted; mounts change rarely. */
  readonly refreshMs?: number;
  /** Where the table is read from (a test's own file). */
  readonly mountinfo?: string;
  readonly now?: () => number;
}

/** The exporter's mount table, read again once it is older than refreshMs. One per exporter. */
export class MountTable {
  static readonly defaultRefreshMs = 30_000;
  private readonly refreshMs: number;
  private readonly mountinfo: string;
  private readonly now: () => number;
  private table: { readonly at: number; readonly mounts: readonly MountEntry[] } | undefined;

  constructor(options: MountTableOptions = {}) {
    this.refreshMs = options.refreshMs ?? MountTable.defaultRefreshMs;
    this.mountinfo = options.mountinfo ?? "/proc/self/mountinfo";
    this.now = options.now ?? Date.now;
  }

  /** Whether `path` is on a filesystem where a synchronous read cannot hang. */
  isLocal(path: string): boolean {
    if (!path.startsWith("/")) return false;
    const now = this.now();
    if (!this.table || now - this.table.at > this.refreshMs) {
      let mounts: MountEntry[] = [];
      try {
        mounts = parseMountinfo(readFileSync(this.mountinfo, "utf8"));
      } catch {
        // No mount table: treat everything as possibly remote.
      }
      this.table = { at: now, mounts };
    }
    const mount = mountOf(this.table.mounts, path);
    return mount !== undefined && localFilesystems.has(mount.fsType);
  }
}
