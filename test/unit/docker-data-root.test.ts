import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readDataRootUsage, spaceThresholds } from "../../src/collectors/docker/data-root.js";
import { addDocker } from "../../src/collectors/docker/module.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";
import { filesystemName, userFilesystem } from "../../src/host/user-statfs.js";
import { dataRootFull, dataRootSpace } from "../../src/collectors/docker/data-root-checks.js";
import { dataRootOverlay } from "../../src/checks/data-root-overlay.js";
import { healthyFacts } from "../helpers/healthy-facts.js";
import { withReason } from "../helpers/prerequisites.js";

const uid = process.getuid?.() ?? 1000;
const isRoot = uid === 0;
const target: Target = {
  name: "alice",
  uid,
  gid: uid,
  home: "/home/alice",
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
};
const thresholds = { warningRatio: 0.1, criticalRatio: 0.05 };
const dataRoot = "/home/alice/.local/share/docker";

/** `df`'s figures for a path, in bytes and inodes (GNU coreutils). */
function df(path: string): { size: number; avail: number; inodes: number; ifree: number } {
  const run = (args: string[]) =>
    spawnSync("df", [...args, path], { encoding: "utf8" })
      .stdout.trim()
      .split("\n")[1] ?? "";
  const [size, avail] = run(["-B1", "--output=size,avail"]).trim().split(/\s+/).map(Number);
  const [inodes, ifree] = run(["--output=itotal,iavail"]).trim().split(/\s+/).map(Number);
  return { size: size ?? 0, avail: avail ?? 0, inodes: inodes ?? 0, ifree: ifree ?? 0 };
}

describe("docker data root: statfs and d_type of the user's own directory", () => {
  let dir = "";
  let roots: HostRoots;
  const onHost = (path: string) => join(roots.rootfs, path);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "data-root-"));
    roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: join(dir, "root") };
    mkdirSync(join(onHost(dataRoot), "overlay2"), { recursive: true });
    mkdirSync(onHost(`${dataRoot}/image`), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("measures what df measures, and reads the entries' types", async () => {
    const usage = await readDataRootUsage(roots, target, dataRoot, thresholds);
    if ("unverified" in usage) throw new Error(usage.unverified);
    const real = df(onHost(dataRoot));
    expect(usage.sizeBytes).toBe(real.size);
    // Other writers share the filesystem: within 1% of df's reading a moment apart.
    expect(Math.abs(usage.freeBytes - real.avail)).toBeLessThan(real.size / 100);
    if (real.inodes > 0) expect(usage.inodes).toBe(real.inodes);
    expect(usage.path).toBe(dataRoot);
    expect(usage.thresholds).toEqual(thresholds);
    expect(usage.dtype).toBe(true);
  });

  it("an empty data root tells no d_type", async () => {
    rmSync(onHost(dataRoot), { recursive: true });
    mkdirSync(onHost(dataRoot));
    const fs = await userFilesystem(onHost(dataRoot), uid);
    expect(fs.ok && fs.dtype).toBe(undefined);
  });

  it("a data root that is a symlink is not followed", async () => {
    rmSync(onHost(dataRoot), { recursive: true });
    mkdirSync(join(dir, "elsewhere"));
    symlinkSync(join(dir, "elsewhere"), onHost(dataRoot));
    const usage = await readDataRootUsage(roots, target, dataRoot, thresholds);
    expect(usage).toEqual({
      path: dataRoot,
      thresholds,
      unverified: `${onHost(dataRoot)} is a symbolic link, not followed`,
    });
  });

  it("a symlink on the way to the data root is not followed", async () => {
    rmSync(onHost("/home/alice/.local"), { recursive: true });
    mkdirSync(join(dir, "other/share/docker"), { recursive: true });
    symlinkSync(join(dir, "other"), onHost("/home/alice/.local"));
    // As root, the user is another uid: root's own symlinks are followed (a host's /var/run).
    const user = isRoot ? { ...target, uid: 4242 } : target;
    if (isRoot) {
      chmodSync(dir, 0o755);
      chownSync(onHost("/home/alice"), 4242, 4242);
      lchownSync(onHost("/home/alice/.local"), 4242, 4242);
    }
    const usage = await readDataRootUsage(roots, user, dataRoot, thresholds);
    expect("unverified" in usage && usage.unverified).toMatch(/symbolic link owned by uid/);
  });

  it.skipIf(!isRoot)(
    withReason(
      "a data root of another uid, or behind one, is refused unmeasured",
      isRoot ? undefined : "not root",
    ),
    async () => {
      chmodSync(dir, 0o755);
      chownSync(onHost(dataRoot), 4242, 4242);
      const own = await readDataRootUsage(roots, target, dataRoot, thresholds);
      expect("unverified" in own && own.unverified).toBe(
        `${onHost(dataRoot)} belongs to uid 4242, not ${uid}`,
      );
      const alice = { ...target, uid: 4343 };
      chownSync(onHost("/home/alice"), 4242, 4242);
      const behind = await readDataRootUsage(roots, alice, dataRoot, thresholds);
      expect("unverified" in behind && behind.unverified).toMatch(/belongs to uid 4242/);
    },
  );

  const loopMissing = !isRoot
    ? "not root (a loop mount)"
    : !existsSync("/usr/sbin/mkfs.ext4") && !existsSync("/sbin/mkfs.ext4")
      ? "no mkfs.ext4"
      : undefined;
  it.skipIf(loopMissing !== undefined)(
    withReason(
      "ext4 made without the filetype feature: every entry DT_UNKNOWN, d_type 0",
      loopMissing,
    ),
    async () => {
      const image = join(dir, "fs.img");
      const mountPoint = onHost(dataRoot);
      writeFileSync(image, Buffer.alloc(0));
      spawnSync("truncate", ["-s", "16M", image]);
      expect(spawnSync("mkfs.ext4", ["-q", "-O", "^filetype", image]).status).toBe(0);
      expect(spawnSync("mount", ["-o", "loop", image, mountPoint]).status).toBe(0);
      try {
        mkdirSync(join(mountPoint, "overlay2"));
        writeFileSync(join(mountPoint, "engine-id"), "x");
        const usage = await readDataRootUsage(roots, target, dataRoot, thresholds);
        if ("unverified" in usage) throw new Error(usage.unverified);
        expect(usage.fsName).toBe("extfs");
        expect(usage.dtype).toBe(false);
        expect(usage.inodes).toBe(4096);
      } finally {
        // The walk's O_PATH descriptors close in the background: a busy mount is let go lazily.
        if (spawnSync("umount", [mountPoint]).status !== 0) spawnSync("umount", ["-l", mountPoint]);
      }
    },
  );

  /** The healthy facts with the data root as measured here (and its mountinfo fstype). */
  const judged = async (fsType: string, kernel?: { major: number; minor: number }) => {
    const usage = await readDataRootUsage(roots, target, dataRoot, thresholds);
    const facts = healthyFacts();
    const docker = { ...facts.docker, dataRoot: { path: dataRoot, fsType }, dataRootUsage: usage };
    const input = {
      facts: { docker, kernel: { ...facts.kernel, ...(kernel && { version: kernel }) } },
      target,
    };
    return {
      usage,
      full: dataRootFull.evaluate(input),
      space: dataRootSpace.evaluate(input),
      overlay: dataRootOverlay.evaluate(input),
    };
  };
  const umount = (path: string) => {
    if (spawnSync("umount", [path]).status !== 0) spawnSync("umount", ["-l", path]);
  };

  it.skipIf(loopMissing !== undefined)(
    withReason(
      "a small ext4 data root filled past the thresholds: data_root_full fails",
      loopMissing,
    ),
    async () => {
      const image = join(dir, "small.img");
      spawnSync("truncate", ["-s", "16M", image]);
      expect(spawnSync("mkfs.ext4", ["-q", image]).status).toBe(0);
      expect(spawnSync("mount", ["-o", "loop", image, onHost(dataRoot)]).status).toBe(0);
      try {
        mkdirSync(join(onHost(dataRoot), "overlay2"));
        const before = await judged("ext4");
        expect([before.full.state, before.space.state, before.overlay.state]).toEqual([
          "pass",
          "pass",
          "pass",
        ]);
        // Fill it as a container's writes would, to ENOSPC.
        spawnSync("dd", ["if=/dev/zero", `of=${join(onHost(dataRoot), "overlay2/fill")}`, "bs=1M"]);
        const after = await judged("ext4");
        expect(after.full.state).toBe("fail");
        expect(after.space.state).toBe("fail");
        expect(after.full.summary.en).toMatch(/under the 5% threshold/);
        expect(after.full.remediation?.en).toContain(`df -h ${dataRoot}`);
      } finally {
        umount(onHost(dataRoot));
      }
    },
  );

  it.skipIf(!isRoot)(
    withReason(
      "a tmpfs data root: overlay refused before kernel 6.6, taken from 6.6",
      isRoot ? undefined : "not root",
    ),
    async () => {
      expect(
        spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", onHost(dataRoot)]).status,
      ).toBe(0);
      try {
        mkdirSync(join(onHost(dataRoot), "overlay2"));
        const old = await judged("tmpfs", { major: 6, minor: 1 });
        expect(old.usage).toMatchObject({ fsName: "tmpfs", dtype: true, sizeBytes: 4 * 2 ** 20 });
        expect(old.overlay.state).toBe("fail");
        expect(old.overlay.summary.en).toMatch(/before kernel 6\.6 \(this is 6\.1\)/);
        expect((await judged("tmpfs", { major: 6, minor: 6 })).overlay.state).toBe("pass");
      } finally {
        umount(onHost(dataRoot));
      }
    },
  );

  it("names filesystems by their magic number, unknown ones as unknown", () => {
    expect(
      [0xef53, 0x58465342, 0x01021994, 0x2fc12fc1, 0xf15f, 0x6969, 0x794c7630, 1].map(
        filesystemName,
      ),
    ).toEqual(["extfs", "xfs", "tmpfs", "zfs", "ecryptfs", "nfs", "overlayfs", "unknown"]);
    // Node gives f_type signed on some platforms.
    expect(filesystemName(0x9123683e | 0)).toBe("btrfs");
  });

  it("thresholds from the flags, the defaults for a value that is not a fraction", () => {
    const flags: Record<string, string> = {
      "data-root-free-warning-ratio": "0.2",
      "data-root-free-critical-ratio": "x",
    };
    expect(spaceThresholds((name) => flags[name] ?? "")).toEqual({
      warningRatio: 0.2,
      criticalRatio: 0.05,
    });
  });

  it("a filesystem with no size (cgroup2, proc) is unknown, never passed as 0% free", () => {
    const facts = healthyFacts();
    const dataRootUsage = {
      path: "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service",
      thresholds,
      fsName: "unknown",
      sizeBytes: 0,
      freeBytes: 0,
    };
    const input = { facts: { docker: { ...facts.docker, dataRootUsage } }, target };
    for (const check of [dataRootSpace, dataRootFull]) {
      const verdict = check.evaluate(input);
      expect(verdict.state).toBe("unknown");
      expect(verdict.summary.en).toMatch(/counts neither blocks nor inodes/);
    }
  });

  it("renders the measures, leaves out what was not measured", () => {
    const series: string[] = [];
    const out = {
      add: (m: string, l: Record<string, string>, v: number) =>
        series.push(`${m} ${JSON.stringify(l)} ${v}`),
    };
    const facts = healthyFacts().docker;
    addDocker(out, "alice", facts);
    expect(series.filter((s) => /^dataRoot(Size|Free|Inodes|FreeInodes|Dtype) /.test(s))).toEqual([
      `dataRootSize {"user":"alice"} ${100 * 2 ** 30}`,
      `dataRootFree {"user":"alice"} ${60 * 2 ** 30}`,
      'dataRootInodes {"user":"alice"} 6553600',
      'dataRootFreeInodes {"user":"alice"} 6000000',
      'dataRootDtype {"user":"alice"} 1',
    ]);
    series.length = 0;
    addDocker(out, "alice", {
      ...facts,
      dataRootUsage: { path: dataRoot, thresholds, unverified: "a symlink" },
    });
    expect(series.filter((s) => /^(docker)?[dD]ataRoot/.test(s))).toEqual([
      'dockerDataRootFilesystem {"user":"alice","path":"/home/alice/.local/share/docker","fstype":"ext4"} 1',
    ]);
  });
});
