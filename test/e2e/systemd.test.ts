import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot, valueOf } from "../helpers/daemon.js";
import type { BootedContainer } from "../helpers/nspawn.js";
import { bootContainer } from "../helpers/nspawn.js";
import { metricsWhen as pollMetrics, waitFor } from "../helpers/expect-soon.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// The third ring: a debootstrapped Debian 12 booted with systemd-nspawn, so logind, linger,
// `systemd --user` and the user bus are the real ones. The exporter is installed as the README says,
// from deploy/systemd-user/, as a user service, and scraped on the container's loopback.
// The real-host ring (vm.test.ts) covers the same on its own kernel with a real docker.service and
// the faults; this ring stays for what the VM cannot show: a systemd host on a shared kernel with
// the cgroup v1 (hybrid) hierarchy, where delegation cannot be judged, in seconds and without QEMU.
const root = process.env["ROOTLESS_TEST_NSPAWN_ROOT"];
const main = process.env["ROOTLESS_TEST_MAIN"];
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root (systemd-nspawn)"],
  [
    root !== undefined,
    "ROOTLESS_TEST_NSPAWN_ROOT is not set (scripts/test-all.sh debootstraps it)",
  ],
  [main !== undefined, "ROOTLESS_TEST_MAIN is not set (scripts/test-all.sh stages dist/)"],
  [existsSync(`${root}/lib/systemd/systemd`), `${root}/lib/systemd/systemd is missing`],
);

const user = { name: "rlx", uid: 1500 };
const home = `/home/${user.name}`;
const runtimeDir = `/run/user/${user.uid}`;

describe.skipIf(requireOnCi(missing))(
  withReason("the exporter as a systemd user service on a real systemd", missing),
  () => {
    let box: BootedContainer;
    const u = `user="${user.name}"`;
    const asUser = (...argv: string[]) =>
      box.exec(["runuser", "-u", user.name, "--", "env", `XDG_RUNTIME_DIR=${runtimeDir}`, ...argv]);
    const scrape = () =>
      box.execInNetwork(["curl", "-sf", "--max-time", "2", "http://127.0.0.1:10049/metrics"]);
    const isActive = (unit: string) =>
      asUser("systemctl", "--user", "is-active", unit).then(
        (out) => out.trim(),
        (err: { stdout?: string }) => (err.stdout ?? "").trim(),
      );
    // The container has a private network: scraped with its own curl, timed like every scrape.
    const metricsWhen = async (what: string, check: (body: string) => boolean) => {
      const timed = async () => {
        const started = performance.now();
        const body = await scrape().catch(() => "");
        return { body, ms: performance.now() - started };
      };
      return (await pollMetrics(what, timed, check, 20_000)).body;
    };

    beforeAll(async () => {
      const stage = dirname(dirname(main ?? ""));
      box = await bootContainer(root ?? "", [
        `${process.execPath}:/usr/local/bin/node`,
        `${stage}:/opt/rootless-exporter`,
      ]);
      await box.exec([
        "useradd",
        "--create-home",
        "--uid",
        String(user.uid),
        "--shell",
        "/bin/bash",
        user.name,
      ]);
      // Installed as README.md says, with the unit file from deploy/systemd-user/.
      const units = box.path(`${home}/.config/systemd/user`);
      mkdirSync(units, { recursive: true });
      copyFileSync(
        join(projectRoot, "deploy/systemd-user/rootless-exporter.service"),
        join(units, "rootless-exporter.service"),
      );
      // docker itself is not in this container: a stand-in unit gives docker.service a real state.
      writeFileSync(
        join(units, "docker.service"),
        "[Unit]\nDescription=stand-in for docker.service\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=default.target\n",
      );
      mkdirSync(box.path(`${home}/.config/rootless-exporter`), { recursive: true });
      writeFileSync(
        box.path(`${home}/.config/rootless-exporter/env`),
        "ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS=127.0.0.1:10049\nROOTLESS_EXPORTER_COLLECT_INTERVAL=1s\nROOTLESS_EXPORTER_LOG_LEVEL=debug\n",
      );
      mkdirSync(box.path(`${home}/.local/lib`), { recursive: true });
      symlinkSync("/opt/rootless-exporter", box.path(`${home}/.local/lib/rootless-exporter`));
      await box.exec(["chown", "-R", `${user.name}:${user.name}`, home]);
      await box.exec(["loginctl", "enable-linger", user.name]);
      await waitFor("the user bus", () => existsSync(box.path(`${runtimeDir}/bus`)), 20_000);
      await asUser("systemctl", "--user", "daemon-reload");
      await asUser(
        "systemctl",
        "--user",
        "enable",
        "--now",
        "docker.service",
        "rootless-exporter.service",
      );
    }, 120_000);

    afterAll(async () => {
      await box?.stop();
    }, 60_000);

    it("reports linger from logind, the user bus, and unit states as systemctl --user sees them", async () => {
      // Each collector's series appear when its own first run ends, and the linger and dbus
      // collectors run independently: right after the first boot logind (busy starting the user's
      // manager) may answer later than the user bus. Wait for every series read below, not one.
      const body = await metricsWhen(
        "linger, the user bus and unit states",
        (b) =>
          valueOf(b, `rootless_linger_enabled{${u}}`) !== undefined &&
          valueOf(b, `rootless_dbus_user_bus_up{${u}}`) !== undefined &&
          b.includes("rootless_systemd_user_unit_state{"),
      );
      expect(valueOf(body, `rootless_linger_enabled{${u}}`)).toBe(1);
      expect(valueOf(body, `rootless_dbus_user_bus_up{${u}}`)).toBe(1);
      for (const unit of ["docker.service", "dbus.service", "dbus.socket"]) {
        const state = await isActive(unit);
        expect(
          valueOf(body, `rootless_systemd_user_unit_state{${u},unit="${unit}",state="${state}"}`),
        ).toBe(1);
      }
      // logind answered: the exporter never had to fall back to the linger file.
      const journal = await box.exec([
        "journalctl",
        "--no-pager",
        "-o",
        "cat",
        `_SYSTEMD_USER_UNIT=rootless-exporter.service`,
      ]);
      expect(journal).toContain('"msg":"listening"');
      expect(journal).not.toContain("did not answer");
    });

    it("reports the cgroup version the container's systemd runs on, and judges delegation only on v2", async () => {
      const delegationOf = (b: string) =>
        b
          .split("\n")
          .find(
            (l) => l.startsWith("rootless_check_ok{") && l.includes('check="cgroup_delegation"'),
          );
      const body = await metricsWhen(
        "the cgroup series and the delegation check",
        (b) => b.includes("rootless_cgroup_version ") && delegationOf(b) !== undefined,
      );
      const fs = (await box.exec(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"])).trim();
      const version = fs === "cgroup2fs" ? 2 : 1;
      expect(valueOf(body, "rootless_cgroup_version")).toBe(version);
      const delegation = delegationOf(body);
      const delegated = (controller: string) =>
        valueOf(body, `rootless_cgroup_controller_delegated{${u},controller="${controller}"}`);
      const controllers = ["cpu", "cpuset", "io", "memory", "pids"];
      if (version === 1) {
        // On v1 the v2 delegation does not apply: the check passes as not applicable (issue 11's
        // evidence rule) rather than reading unknown, and no controller series is made up.
        expect(delegation?.endsWith(" 1")).toBe(true);
        expect(controllers.map(delegated)).toEqual(controllers.map(() => undefined));
      } else {
        // On v2 both follow user@UID.service's cgroup.controllers, as systemd wrote it.
        const file = `/sys/fs/cgroup/user.slice/user-${user.uid}.slice/user@${user.uid}.service/cgroup.controllers`;
        const listed = (await box.exec(["cat", file])).trim().split(/\s+/);
        expect(controllers.map(delegated)).toEqual(
          controllers.map((c) => (listed.includes(c) ? 1 : 0)),
        );
        const enough = ["cpu", "io", "memory", "pids"].every((c) => listed.includes(c));
        expect(delegation?.endsWith(enough ? " 1" : " 0")).toBe(true);
      }
    });
  },
);
