import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { builtMain, startDaemon, valueOf, waitForMetrics } from "../helpers/daemon.js";
import { FakeProcfs } from "../helpers/procfs.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";

const run = promisify(execFile);

// Host mode (root, no --target.user) on a host where nobody has rootless Docker set up: no user
// to watch, and still the host's own prerequisites reported, as the README's first command promises.
const missing = process.getuid?.() === 0 ? undefined : "needs root (host mode)";
describe.skipIf(requireOnCi(missing))(withReason("host mode with nobody to watch", missing), () => {
  let host: FakeProcfs;
  let flags: string[];
  beforeEach(() => {
    host = new FakeProcfs();
    host.writeRoot("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsvc:x:999:999::/:/bin/false\n");
    host.writeRoot("/etc/group", "root:x:0:\n");
    for (const dir of ["sys/kernel", "sys/user"])
      mkdirSync(join(host.roots.procfs, dir), { recursive: true });
    host.write("sys/kernel/osrelease", "6.1.0-28-amd64\n");
    host.write("sys/user/max_user_namespaces", "0\n");
    flags = [
      `--path.procfs=${host.roots.procfs}`,
      `--path.sysfs=${host.roots.sysfs}`,
      `--path.rootfs=${host.roots.rootfs}`,
    ];
  });
  afterEach(() => host.cleanup());

  it("check prints the host checks and exits with their code", async () => {
    const result = await run(process.execPath, [builtMain, "check", ...flags], {
      timeout: 30_000,
    }).catch((err: { stdout: string; code: number }) => err);
    const { stdout } = result;
    expect(stdout).toMatch(/no user to watch/);
    expect(stdout).toMatch(/rootless-exporter check: host checks only/);
    // user.max_user_namespaces = 0 is a critical host failure: exit 2.
    expect(stdout).toMatch(/CRITICAL max_user_namespaces/);
    expect("code" in result ? result.code : 0).toBe(2);
  });

  it("/metrics carries the host checks without a user label, and /checks lists them", async () => {
    const daemon = await startDaemon([...flags, "--web.disable-exporter-metrics"]);
    try {
      const body = await waitForMetrics(daemon, (b) => /^rootless_check_ok\{/m.test(b));
      expect(valueOf(body, 'rootless_targets_watched{mode="host"}')).toBe(0);
      expect(body).not.toMatch(/user="/);
      expect(
        valueOf(body, 'rootless_check_ok{check="max_user_namespaces",severity="critical"}'),
      ).toBe(0);
      const checks = (await (await fetch(daemon.url("/checks"))).json()) as {
        targets: unknown[];
        host?: { checks: { id: string; state: string }[] };
      };
      expect(checks.targets).toEqual([]);
      expect(checks.host?.checks.find((c) => c.id === "max_user_namespaces")?.state).toBe("fail");
    } finally {
      await daemon.stop();
    }
  });
});
