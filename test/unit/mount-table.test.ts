import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MountTable } from "../../src/host/mount-table.js";

const line = (id: number, point: string, fsType: string): string =>
  `${id} 1 0:${id} / ${point} rw,relatime shared:${id} - ${fsType} dev${id} rw\n`;

describe("MountTable", () => {
  let dir: string;
  let mountinfo: string;
  let clock: number;
  const now = (): number => clock;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "rlx-mounts-"));
    mountinfo = join(dir, "mountinfo");
    writeFileSync(
      mountinfo,
      line(1, "/", "ext4") + line(2, "/home", "ext4") + line(3, "/mnt/nfs", "nfs4"),
    );
    clock = 1_000_000;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads procfs and sysfs at once, and a path of no known mount as possibly remote", () => {
    const mounts = new MountTable();
    expect(mounts.isLocal("/proc/self/status")).toBe(true);
    expect(mounts.isLocal("/sys/fs/cgroup")).toBe(true);
    expect(mounts.isLocal("relative/path")).toBe(false);
  });

  it("calls a network filesystem remote and the longest mount point wins", () => {
    const mounts = new MountTable({ mountinfo, now });
    expect(mounts.isLocal("/home/alice/.bashrc")).toBe(true);
    expect(mounts.isLocal("/mnt/nfs/alice")).toBe(false);
    expect(mounts.isLocal("/mnt/nfsother")).toBe(true);
  });

  it("keeps one reading for the default 30 s, then reads the table again", () => {
    const mounts = new MountTable({ mountinfo, now });
    expect(MountTable.defaultRefreshMs).toBe(30_000);
    expect(mounts.isLocal("/home/alice")).toBe(true);
    // /home is remounted over NFS: unseen until the window has passed.
    writeFileSync(mountinfo, line(1, "/", "ext4") + line(2, "/home", "nfs4"));
    clock += 30_000;
    expect(mounts.isLocal("/home/alice")).toBe(true);
    clock += 1;
    expect(mounts.isLocal("/home/alice")).toBe(false);
  });

  it("takes its window as an option, and each table is its own", () => {
    const short = new MountTable({ mountinfo, now, refreshMs: 5 });
    const long = new MountTable({ mountinfo, now });
    expect(short.isLocal("/home/alice")).toBe(true);
    expect(long.isLocal("/home/alice")).toBe(true);
    writeFileSync(mountinfo, line(1, "/", "ext4") + line(2, "/home", "nfs4"));
    clock += 6;
    expect(short.isLocal("/home/alice")).toBe(false);
    expect(long.isLocal("/home/alice")).toBe(true);
  });

  it("treats everything as possibly remote without a mount table", () => {
    const mounts = new MountTable({ mountinfo: join(dir, "missing"), now });
    expect(mounts.isLocal("/home/alice")).toBe(false);
  });
});
