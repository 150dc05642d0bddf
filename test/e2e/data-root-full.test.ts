import { execFile, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon } from "../helpers/expect-soon.js";
import type { RootlessDocker, TestUser } from "../helpers/rootless-docker.js";
import {
  asUser,
  makeBusyboxTar,
  startRootlessDocker,
  testUser,
} from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// issue 17: a real rootless Docker whose data root is a small loop-mounted ext4, filled by a real
// container; the exporter (as the user) and `check` (as root) both say so.
const run = promisify(execFile);
const userName = process.env["ROOTLESS_TEST_USER"];
const rootlessScript = "/usr/share/docker.io/contrib/dockerd-rootless.sh";
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root (a loop mount)"],
  [userName !== undefined, "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)"],
  [existsSync(rootlessScript), `${rootlessScript} is missing (apt-get install docker.io)`],
  [existsSync("/usr/sbin/mkfs.ext4") || existsSync("/sbin/mkfs.ext4"), "no mkfs.ext4"],
);

/** `stat -f`'s available bytes, total bytes. */
function statFs(path: string): { avail: number; size: number } {
  const [avail = 0, block = 0, blocks = 0] = execFileSync("stat", ["-f", "-c", "%a %S %b", path], {
    encoding: "utf8",
  })
    .trim()
    .split(" ")
    .map(Number);
  return { avail: avail * block, size: blocks * block };
}

describe.skipIf(requireOnCi(missing))(
  withReason("a real rootless Docker filling a small data root", missing),
  () => {
    let user: TestUser;
    let docker: RootlessDocker | undefined;
    let exporter: RunningDaemon | undefined;
    let work = "";
    let dataRoot = "";
    const u = () => `user="${user.name}"`;
    const ok = (b: string, check: string, severity: string) =>
      valueOf(b, `rootless_check_ok{${u()},check="${check}",severity="${severity}"}`);

    beforeAll(async () => {
      user = testUser(userName ?? "");
      work = mkdtempSync("/var/tmp/rootless-exporter-data-root-");
      chmodSync(work, 0o755);
      const image = join(work, "fs.img");
      dataRoot = join(work, "docker");
      mkdirSync(dataRoot);
      execFileSync("truncate", ["-s", "96M", image]);
      // No blocks reserved for root: what the user may write is what is free.
      execFileSync("mkfs.ext4", ["-q", "-m", "0", image]);
      execFileSync("mount", ["-o", "loop", image, dataRoot]);
      chownSync(dataRoot, user.uid, user.gid);
      docker = await startRootlessDocker(user, {}, undefined, [`--data-root=${dataRoot}`]);
      await docker.docker("import", await makeBusyboxTar(work), "busybox:local");
      exporter = await startDaemon(
        ["--collect.interval=1s", "--collect.rpc-timeout=500ms", "--collect.timeout=5s"],
        { wrapper: asUser(user, { XDG_RUNTIME_DIR: docker.runtimeDir }) },
      );
    }, 180_000);

    afterAll(async () => {
      await exporter?.stop();
      await docker?.docker("rm", "-f", "filler").catch(() => undefined);
      await docker?.stop();
      if (spawnSync("umount", [dataRoot]).status !== 0) spawnSync("umount", ["-l", dataRoot]);
      rmSync(work, { recursive: true, force: true });
    }, 60_000);

    it("passes with room, then data_root_full and data_root_space fail once a container fills it", async () => {
      const d = exporter as RunningDaemon;
      const { body } = await expectSoon(
        d,
        "the data root measured",
        (b) => ok(b, "data_root_full", "critical") !== undefined,
        15_000,
      );
      const before = statFs(dataRoot);
      const free = valueOf(body, `rootless_docker_data_root_free_bytes{${u()}}`) ?? 0;
      expect(Math.abs(free - before.avail)).toBeLessThan(0.03 * before.size);
      expect(valueOf(body, `rootless_docker_data_root_size_bytes{${u()}}`)).toBe(before.size);
      expect(ok(body, "data_root_full", "critical")).toBe(1);
      expect(ok(body, "data_root_space", "warning")).toBe(1);

      // A container writes until the filesystem is full (vfs keeps its layer in the data root):
      // dd ends with ENOSPC, so the run's failure is the expected end.
      const filled = await (docker as RootlessDocker)
        .docker(
          "run",
          "--name",
          "filler",
          "busybox:local",
          "dd",
          "if=/dev/zero",
          "of=/fill",
          "bs=1M",
        )
        .then(
          () => "",
          (e: { stderr?: string }) => e.stderr ?? "",
        );
      expect(filled).toMatch(/No space left on device|exit status|status 1/i);
      const full = await expectSoon(
        d,
        "data_root_full to fail",
        (b) => ok(b, "data_root_full", "critical") === 0,
        15_000,
      );
      const after = statFs(dataRoot);
      expect(after.avail).toBeLessThan(0.05 * after.size);
      console.log(
        `data root ${dataRoot}: ${before.avail} -> ${after.avail} of ${after.size} bytes free (stat -f); exporter ${valueOf(full.body, `rootless_docker_data_root_free_bytes{${u()}}`)}`,
      );
      expect(ok(full.body, "data_root_space", "warning")).toBe(0);
      expect(valueOf(full.body, `rootless_compliant{${u()}}`)).toBe(0);
      const checks = (await (await fetch(d.url("/checks"))).json()) as {
        targets: { checks: { id: string; state: string; summary: string }[] }[];
      };
      const finding = checks.targets
        .flatMap((t) => t.checks)
        .find((c) => c.id === "data_root_full");
      expect(finding?.state).toBe("fail");
      expect(finding?.summary).toContain(`The data root ${dataRoot} has`);
      expect(finding?.summary).toContain("under the 5% threshold");

      // `check` as root, watching the user: the same answer, exit 2 (a critical check fails).
      const result = await run(
        process.execPath,
        [builtMain, "check", `--target.user=${user.name}`],
        {
          timeout: 60_000,
        },
      ).then(
        () => ({ code: 0, out: "" }),
        (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, out: e.stdout ?? "" }),
      );
      expect(result.code).toBe(2);
      expect(result.out).toMatch(/CRITICAL\s+data_root_full: The data root/);
      expect(result.out).toMatch(/WARNING\s+data_root_space: The data root/);
    }, 120_000);
  },
);
