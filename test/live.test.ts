import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectorList as collectors } from "../src/collectors/registry.js";
import type { RunningDaemon } from "./helpers/daemon.js";
import { startDaemon, valueOf, waitForMetrics } from "./helpers/daemon.js";
import { firstMissing, requireOnCi, withReason } from "./helpers/prerequisites.js";

// The real daemon, as the unprivileged user that scripts/test-all.sh provisions, on this very host.
const user = process.env["ROOTLESS_TEST_USER"];
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [user !== undefined, "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)"],
);
const canRun = missing === undefined;

function account(name: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`${name} is not in /etc/passwd`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** An independent reading of /etc/subuid: sum of counts on lines owned by the name or the uid. */
function subidCount(file: string, name: string, uid: number): number {
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim().split(":"))
    .filter((f) => f.length === 3 && (f[0] === name || f[0] === String(uid)))
    .reduce((sum, f) => sum + Number(f[2]), 0);
}

describe.skipIf(requireOnCi(missing))(
  withReason("the daemon as an unprivileged user on this host", missing),
  () => {
    let daemon: RunningDaemon;
    let body: string;
    let runtimeDir: string;
    const name = user ?? "";
    const { uid, gid } = canRun ? account(name) : { uid: -1, gid: -1 };

    beforeAll(async () => {
      runtimeDir = mkdtempSync(join(tmpdir(), "rootless-exporter-live-"));
      chownSync(runtimeDir, uid, gid);
      daemon = await startDaemon(["--log.level=debug"], {
        wrapper: ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--"],
        env: { PATH: "/usr/bin:/bin", XDG_RUNTIME_DIR: runtimeDir, HOME: "/" },
      });
      body = await waitForMetrics(
        daemon,
        (b) =>
          (b.match(/^rootless_collector_success\{/gm) ?? []).length ===
          collectors.filter((c) => c.defaultEnabled).length,
      );
    });

    afterAll(async () => {
      expect(await daemon?.stop()).toBe(0);
      rmSync(runtimeDir, { recursive: true, force: true });
    });

    it("watches the user it runs as", () => {
      expect(body).toContain(
        `rootless_target_info{user="${name}",uid="${uid}",runtime_dir="${runtimeDir}"} 1`,
      );
      for (const { name: collector } of collectors.filter((c) => c.defaultEnabled)) {
        expect(valueOf(body, `rootless_collector_success{collector="${collector}"}`)).toBe(1);
      }
    });

    it("reports the subordinate ID ranges of /etc/subuid and /etc/subgid", () => {
      expect(valueOf(body, `rootless_subid_range_size{user="${name}",kind="uid"}`)).toBe(
        subidCount("/etc/subuid", name, uid),
      );
      expect(valueOf(body, `rootless_subid_range_size{user="${name}",kind="gid"}`)).toBe(
        subidCount("/etc/subgid", name, uid),
      );
    });

    it("reports the sysctls that /proc/sys holds", () => {
      const sysctls: Record<string, string> = {
        "user.max_user_namespaces": "/proc/sys/user/max_user_namespaces",
        "net.ipv4.ip_unprivileged_port_start": "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        "kernel.unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
      };
      for (const [sysctl, path] of Object.entries(sysctls)) {
        const expected = existsSync(path) ? Number(readFileSync(path, "utf8").trim()) : undefined;
        expect(valueOf(body, `rootless_sysctl_value{sysctl="${sysctl}"}`)).toBe(expected);
      }
    });

    it("reports the cgroup version that stat(1) sees", () => {
      const fsType = execFileSync("stat", ["-f", "-c", "%T", "/sys/fs/cgroup"], {
        encoding: "utf8",
      }).trim();
      expect(valueOf(body, "rootless_cgroup_version")).toBe(fsType === "cgroup2fs" ? 2 : 1);
      const delegation = `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/cgroup.controllers`;
      expect(body.includes("rootless_cgroup_controller_delegated{")).toBe(existsSync(delegation));
    });

    it("reports linger from /var/lib/systemd/linger and the idmap helpers' setuid bit", () => {
      expect(valueOf(body, `rootless_linger_enabled{user="${name}"}`)).toBe(
        existsSync(`/var/lib/systemd/linger/${name}`) ? 1 : 0,
      );
      // Both helpers, whatever this host has: setuid root, or the file capability in its
      // effective and permitted sets as getcap(8) prints it ("cap_setuid=ep"), else 0.
      for (const [helper, capability] of [
        ["newuidmap", "cap_setuid"],
        ["newgidmap", "cap_setgid"],
      ] as const) {
        const path = `/usr/bin/${helper}`;
        const stats = statSync(path, { throwIfNoEntry: false });
        const setuidRoot = stats !== undefined && (stats.mode & 0o4000) !== 0 && stats.uid === 0;
        const caps = stats
          ? execFileSync("getcap", [path], { encoding: "utf8" }).trim().split(/\s+/).slice(1)
          : [];
        const capable = caps.some((clause) => {
          const [names = "", flags = ""] = clause.split(/[=+]/);
          return names.split(",").includes(capability) && /e/.test(flags) && /p/.test(flags);
        });
        expect(valueOf(body, `rootless_idmap_helper_ok{helper="${helper}"}`), helper).toBe(
          setuidRoot || capable ? 1 : 0,
        );
      }
    });

    it("reports ping_allowed from net.ipv4.ping_group_range and the user's groups", () => {
      const [low, high] = readFileSync("/proc/sys/net/ipv4/ping_group_range", "utf8")
        .trim()
        .split(/\s+/)
        .map(Number);
      const groups = execFileSync("id", ["-G", name], { encoding: "utf8" })
        .trim()
        .split(/\s+/)
        .map(Number);
      const allowed = groups.some((g) => g >= (low ?? 1) && g <= (high ?? 0));
      expect(valueOf(body, `rootless_ping_allowed{user="${name}"}`)).toBe(allowed ? 1 : 0);
    });
  },
);
