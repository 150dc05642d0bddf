import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectRoot } from "../helpers/daemon.js";
import { metricsWhen as pollMetrics, scrapeUrl, waitFor } from "../helpers/expect-soon.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";
import { parseSamples, sample } from "../helpers/samples.js";
import type { BootedVm } from "../helpers/vm.js";
import { bootVm, freePort, stageExporter, vmDir, vmSkipReason } from "../helpers/vm.js";

// The fourth ring: a Debian 12 booted by QEMU from scripts/vm-image.sh (its own kernel 6.1, systemd
// 252 as PID 1, logind, cgroup v2, AppArmor, loadable modules), rootless Docker installed the
// documented way, the exporter installed as README.md says, scraped from this host through
// QEMU's forwarded ports, and every reading compared with what systemd and the kernel say.
const skip = vmSkipReason();
const systemUnit = join(projectRoot, "deploy/systemd/rootless-exporter.service");
const hostModeOwn = existsSync(systemUnit)
  ? undefined
  : "deploy/systemd/rootless-exporter.service is not in this checkout (host mode, issue 9)";
const hostModeSkip = skip ?? hostModeOwn;
const baseTar = join(vmDir, "node-base.tar");
const containerOwn = existsSync(baseTar)
  ? undefined
  : `${baseTar} is missing (scripts/vm-image.sh makes it)`;
const containerSkip = hostModeSkip ?? containerOwn;
// On CI each missing prerequisite fails once, in the block it belongs to; elsewhere it skips.
// The default reporter does not list skipped blocks by name: say why here too.
if (skip) console.warn(`real-host ring skipped: ${skip}`);
else {
  if (hostModeSkip) console.warn(`real-host ring: system unit skipped: ${hostModeSkip}`);
  if (containerSkip) console.warn(`real-host ring: container image skipped: ${containerSkip}`);
}

// The default interval: under TCG on a busy 2-core host a collection cycle of the exporter takes
// seconds of emulated CPU, so a shorter one only measures the emulator.
const interval = 15;
/** The guest's clock, the one the exporter's timestamps use (the VM's clock drifts from ours). */
const guestNow = async () => Number(await guestOut(["date", "+%s.%N"]));

/**
 * "Reported within one interval": the run of `collector` whose result first showed the fault ended
 * at most one interval after the fault, plus that run's own duration and 1 s for the clock-aligned
 * trigger, by the guest's clock. The host's scrape latency under TCG (seconds) is not counted.
 */
function expectReportedByNextRun(
  body: string,
  collector: string,
  faultAt: number,
  what: string,
  wallMs: number,
): void {
  const ended = sample(body, "rootless_collector_last_success_timestamp_seconds", { collector });
  const took = sample(body, "rootless_collector_duration_seconds", { collector });
  expect(ended, `${collector} last success`).toBeDefined();
  expect(took, `${collector} duration`).toBeDefined();
  const lag = (ended ?? 0) - faultAt;
  console.log(
    `${what}: shown by the ${collector} run that ended ${lag.toFixed(1)} s after the fault (the run took ${took} s; the host's scrapes saw it after ${(wallMs / 1000).toFixed(1)} s)`,
  );
  expect(lag).toBeLessThanOrEqual(interval + (took ?? 0) + 1);
}
const contrib = "/usr/share/docker.io/contrib";
const prometheusBin = "/usr/bin/prometheus";

let vm: BootedVm;
const uids = new Map<string, number>();
const uidOf = (user: string) => uids.get(user) ?? -1;
const runtimeDir = (user: string) => `/run/user/${uidOf(user)}`;

/** argv that runs as `user` with the environment a login would give (runuser keeps ours). */
const asUser = (user: string, argv: readonly string[]) => [
  "runuser",
  "-u",
  user,
  "--",
  "env",
  `HOME=/home/${user}`,
  `XDG_RUNTIME_DIR=${runtimeDir(user)}`,
  `PATH=${contrib}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
  ...argv,
];
const guest = (argv: readonly string[], timeoutMs?: number) => vm.exec(argv, timeoutMs);
const guestOut = async (argv: readonly string[]) => (await vm.run(argv)).stdout.trim();
const isActive = (user: string, unit: string) =>
  guestOut(asUser(user, ["systemctl", "--user", "is-active", unit]));
const nRestarts = async (user: string, unit: string) =>
  Number(
    await guestOut(
      asUser(user, ["systemctl", "--user", "show", unit, "-p", "NRestarts", "--value"]),
    ),
  );

/** The exporter's unit file state is what `systemctl --user is-enabled` prints, or absent. */
async function expectUnitFileState(body: string, user: string, unit: string): Promise<void> {
  const enabled = await vm.run(asUser(user, ["systemctl", "--user", "is-enabled", unit]));
  const printed = enabled.stdout.trim();
  const served = parseSamples(body).filter(
    (x) =>
      x.name === "rootless_systemd_user_unit_file_state" &&
      x.labels["user"] === user &&
      x.labels["unit"] === unit &&
      x.value === 1,
  );
  // A unit with no unit file (vmc has no docker.service): systemctl fails, the series are absent.
  if (printed === "" || printed === "not-found") expect(served, `${user} ${unit}`).toEqual([]);
  else
    expect(
      sample(body, "rootless_systemd_user_unit_file_state", { user, unit, state: printed }),
      `${user} ${unit}: is-enabled says ${printed}`,
    ).toBe(1);
}

async function scrape(guestPort: number): Promise<string> {
  // A scrape under TCG on a loaded host took 6 s: scrapeUrl's 30 s bound.
  const { body, status } = await scrapeUrl(`http://127.0.0.1:${vm.ports.get(guestPort)}/metrics`);
  return status === 200 ? body : "";
}
/** Scrapes until `check` holds; `ms` counts from `since` (when the fault was injected), or now. */
async function metricsWhen(
  guestPort: number,
  what: string,
  check: (body: string) => boolean,
  timeoutMs = 60_000,
  since = Date.now(),
): Promise<{ body: string; ms: number }> {
  const timed = async () => {
    const started = performance.now();
    const body = await scrape(guestPort).catch(() => "");
    return { body, ms: performance.now() - started };
  };
  const { body } = await pollMetrics(what, timed, check, timeoutMs);
  return { body, ms: Date.now() - since };
}

beforeAll(async () => {
  if (skip) return;
  vm = await bootVm([10049, 10050]);
  console.log(`VM booted with ${vm.accel} in ${vm.bootSeconds.toFixed(1)} s (pid ${vm.pid})`);
  for (const user of ["vma", "vmb", "vmc"])
    uids.set(user, Number(await guestOut(["id", "-u", user])));
  // The guide: linger for the Docker users (vmb has subordinate IDs only), then the setup tool.
  await guest(["loginctl", "enable-linger", "vma", "vmc"]);
  for (const user of ["vma", "vmc"])
    await waitFor(
      `${user}'s user bus`,
      async () => (await vm.run(["test", "-S", `${runtimeDir(user)}/bus`])).code === 0,
      120_000,
    );
  // Debian 12's setup tool checks the new daemon with `$BIN/docker version`, BIN being the
  // directory of dockerd-rootless.sh (contrib/), where Debian ships no docker CLI: without this
  // link it stops after starting docker.service, before enabling it.
  await guest(["ln", "-sf", "/usr/bin/docker", `${contrib}/docker`]);
  // The tool gives the new daemon 3 s before `docker version`: too short under TCG. It is made to
  // be run again (it skips what exists), so, as a user would, wait for the daemon and rerun it.
  const started = Date.now();
  const tool = asUser("vma", [
    `${contrib}/dockerd-rootless-setuptool.sh`,
    "install",
    "--skip-iptables",
  ]);
  const dockerVersion = asUser("vma", [
    "env",
    `DOCKER_HOST=unix://${runtimeDir("vma")}/docker.sock`,
    "docker",
    "version",
  ]);
  let setup = await vm.run(tool, 300_000);
  for (let attempt = 1; setup.code !== 0 && attempt < 3; attempt++) {
    await waitFor(
      "vma's dockerd",
      async () => (await vm.run(dockerVersion)).code === 0,
      120_000,
    ).catch(() => undefined);
    setup = await vm.run(tool, 300_000);
  }
  if (setup.code !== 0)
    throw new Error(`dockerd-rootless-setuptool.sh failed:\n${setup.stdout}${setup.stderr}`);
  expect(await isActive("vma", "docker.service")).toBe("active");
  expect(
    await guestOut(asUser("vma", ["systemctl", "--user", "is-enabled", "docker.service"])),
  ).toBe("enabled");
  console.log(`dockerd-rootless-setuptool.sh install took ${(Date.now() - started) / 1000} s`);
}, 900_000);

afterAll(async () => {
  await vm?.stop();
}, 60_000);

describe.skipIf(requireOnCi(skip))(
  withReason("real host: the exporter as a systemd user service", skip),
  () => {
    let prometheus: ChildProcess | undefined;
    let promUrl = "";
    let work = "";
    const ports = { vma: 10049, vmc: 10050 } as const;

    async function alerts(): Promise<{ labels: Record<string, string>; state: string }[]> {
      const response = await fetch(`${promUrl}/api/v1/alerts`);
      return ((await response.json()) as { data: { alerts: [] } }).data.alerts;
    }
    const alertState = async (name: string, user: string) =>
      (await alerts()).find((a) => a.labels["alertname"] === name && a.labels["user"] === user)
        ?.state ?? "inactive";
    const waitAlert = (name: string, user: string, state: "firing" | "inactive") =>
      waitFor(
        `${name} for ${user} ${state}`,
        async () => (await alertState(name, user)) === state,
        60_000,
      );

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), "rootless-exporter-vm-test-"));
      // Installed as README.md says ("Run as a systemd user service"), for vma and vmc, each with
      // its own port; vmb gets only the files, for the `check` command.
      const stage = join(work, "stage");
      stageExporter(projectRoot, stage, "/app");
      const pub = readFileSync(join(vmDir, "id_ed25519.pub"), "utf8");
      for (const user of ["vma", "vmb", "vmc"]) {
        const tree = join(work, user);
        const home = join(tree, "home", user);
        cpSync(join(stage, "app"), join(home, ".local/lib/rootless-exporter"), { recursive: true });
        mkdirSync(join(home, ".config/systemd/user"), { recursive: true });
        cpSync(
          join(projectRoot, "deploy/systemd-user/rootless-exporter.service"),
          join(home, ".config/systemd/user/rootless-exporter.service"),
        );
        mkdirSync(join(home, ".config/rootless-exporter"), { recursive: true });
        const port = user === "vmc" ? ports.vmc : ports.vma;
        writeFileSync(
          join(home, ".config/rootless-exporter/env"),
          // Under TCG a first D-Bus call that socket-activates the user's dbus-daemon took over the
          // default 2 s, and a cold collector run over the default 10 s: the timeouts are widened,
          // the run still ends within the interval.
          [
            `ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS=:${port}`,
            `ROOTLESS_EXPORTER_COLLECT_INTERVAL=${interval}s`,
            "ROOTLESS_EXPORTER_COLLECT_TIMEOUT=14s",
            "ROOTLESS_EXPORTER_COLLECT_RPC_TIMEOUT=5s",
            "",
          ].join("\n"),
        );
        // vma logs in over ssh in the linger scenario (a session keeps its manager up).
        mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
        writeFileSync(join(home, ".ssh/authorized_keys"), pub, { mode: 0o600 });
        await vm.pushTree(tree, user);
      }
      for (const user of ["vma", "vmc"]) {
        await guest(asUser(user, ["systemctl", "--user", "daemon-reload"]));
        await guest(
          asUser(user, ["systemctl", "--user", "enable", "--now", "rootless-exporter.service"]),
        );
      }
      // Cold, under TCG, a first run may report the user bus down (its first call socket-activates
      // the user's dbus-daemon, which can take longer than the RPC timeout) or miss GET /info: what
      // is compared below is the steady state, reached within a few runs.
      for (const user of ["vma", "vmc"] as const) {
        const steady = await metricsWhen(
          ports[user],
          `${user}'s exporter in its steady state`,
          (b) =>
            sample(b, "rootless_linger_enabled", { user }) !== undefined &&
            sample(b, "rootless_check_ok", { user, check: "cgroup_delegation" }) !== undefined &&
            sample(b, "rootless_dbus_user_bus_up", { user }) === 1 &&
            (user !== "vma" || sample(b, "rootless_docker_info", { user }) === 1),
          240_000,
        );
        console.log(
          `${user}'s exporter: steady ${(steady.ms / 1000).toFixed(1)} s after enable --now`,
        );
      }

      // A real Prometheus here scrapes both through the forwarded ports, with the shipped rules.
      const rules = readFileSync(join(projectRoot, "deploy/prometheus/rules.yml"), "utf8").replace(
        /for: \d+m/g,
        "for: 3s",
      );
      writeFileSync(join(work, "rules.yml"), rules);
      const targets = [ports.vma, ports.vmc]
        .map((p) => `"127.0.0.1:${vm.ports.get(p)}"`)
        .join(", ");
      writeFileSync(
        join(work, "prometheus.yml"),
        `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: rootless-exporter\n    static_configs:\n      - targets: [${targets}]\n`,
      );
      const promPort = await freePort();
      promUrl = `http://127.0.0.1:${promPort}`;
      if (existsSync(prometheusBin)) {
        prometheus = spawn(
          prometheusBin,
          [
            `--config.file=${join(work, "prometheus.yml")}`,
            `--storage.tsdb.path=${join(work, "data")}`,
            `--web.listen-address=127.0.0.1:${promPort}`,
          ],
          { stdio: "ignore" },
        );
        await waitFor(
          "Prometheus to be ready",
          async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200,
          30_000,
        );
      }
    }, 600_000);

    afterAll(() => {
      if (prometheus?.pid !== undefined && prometheus.exitCode === null) prometheus.kill("SIGTERM");
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("every user's series and checks agree with logind, systemd, /etc/subuid and cgroupfs", async () => {
      const subuid = await guestOut(["cat", "/etc/subuid"]);
      for (const user of ["vma", "vmc"] as const) {
        const body = await scrape(ports[user]);
        const linger = await guestOut(["loginctl", "show-user", user, "-p", "Linger", "--value"]);
        expect(sample(body, "rootless_linger_enabled", { user })).toBe(linger === "yes" ? 1 : 0);
        expect(sample(body, "rootless_dbus_user_bus_up", { user })).toBe(1);
        for (const unit of ["docker.service", "dbus.service", "dbus.socket"]) {
          const state = await isActive(user, unit);
          expect(sample(body, "rootless_systemd_user_unit_state", { user, unit, state })).toBe(1);
          await expectUnitFileState(body, user, unit);
          // NRestarts, for services only: the exporter's counter is systemd's own number.
          const restarts = sample(body, "rootless_systemd_user_unit_restarts_total", {
            user,
            unit,
          });
          if (unit.endsWith(".service")) expect(restarts).toBe(await nRestarts(user, unit));
          else expect(restarts).toBeUndefined();
        }
        const controllers = (
          await guestOut([
            "cat",
            `/sys/fs/cgroup/user.slice/user-${uidOf(user)}.slice/user@${uidOf(user)}.service/cgroup.controllers`,
          ])
        ).split(" ");
        for (const controller of ["cpu", "cpuset", "io", "memory", "pids"])
          expect(sample(body, "rootless_cgroup_controller_delegated", { user, controller })).toBe(
            controllers.includes(controller) ? 1 : 0,
          );
        const size = Number(new RegExp(`^${user}:\\d+:(\\d+)$`, "m").exec(subuid)?.[1]);
        expect(sample(body, "rootless_subid_range_size", { user, kind: "uid" })).toBe(size);
        expect(sample(body, "rootless_check_ok", { user, check: "subuid_range" })).toBe(
          size >= 65536 ? 1 : 0,
        );
        expect(sample(body, "rootless_cgroup_version")).toBe(
          (await guestOut(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"])) === "cgroup2fs" ? 2 : 1,
        );
      }
      // vma runs the daemon: every part of it is up, and as docker.service (the setup tool's unit).
      const body = await scrape(ports.vma);
      for (const name of [
        "rootless_rootlesskit_up",
        "rootless_dockerd_up",
        "rootless_docker_api_up",
      ])
        expect(sample(body, name, { user: "vma" }), name).toBe(1);
      // Debian 12's dockerd-rootless.sh (20.10) passes rootlesskit no --state-dir, so its state dir
      // is a temporary one, not $XDG_RUNTIME_DIR/dockerd-rootless: the truth is where api.sock is.
      const apiSocks = (
        await guestOut([
          "find",
          runtimeDir("vma"),
          "/tmp",
          "-maxdepth",
          "2",
          "-name",
          "api.sock",
          "-user",
          "vma",
        ])
      )
        .split("\n")
        .filter(Boolean);
      expect(apiSocks).toHaveLength(1);
      const stateDir = dirname(apiSocks[0] ?? "");
      const kitInfo = body.split("\n").filter((l) => l.startsWith("rootless_rootlesskit_info"));
      expect(
        sample(body, "rootless_rootlesskit_info", { user: "vma", state_dir: stateDir }),
        kitInfo.join("\n"),
      ).toBe(1);
      expect(sample(body, "rootless_check_ok", { user: "vma", check: "docker_service" })).toBe(1);

      // vmb has subordinate IDs only: no linger, no session, no user manager. `check` as vmb says so.
      const report = await vm.run(
        asUser("vmb", [
          "node",
          "/home/vmb/.local/lib/rootless-exporter/dist/main.js",
          "check",
          "--json",
        ]),
      );
      const checks = (
        JSON.parse(report.stdout) as { targets: { checks: { id: string; state: string }[] }[] }
      ).targets[0]?.checks;
      const state = (id: string) => checks?.find((c) => c.id === id)?.state;
      const vmbLinger = await vm.run(["loginctl", "show-user", "vmb", "-p", "Linger", "--value"]);
      expect(vmbLinger.code).not.toBe(0); // "not logged in or lingering"
      expect(state("linger")).toBe("fail");
      expect(state("subuid_range")).toBe("pass");
    }, 180_000);

    it("overlay2 is judged supported and is the driver the daemon uses", async () => {
      const body = await scrape(ports.vma);
      const driver = await guestOut(
        asUser("vma", [
          "env",
          `DOCKER_HOST=unix://${runtimeDir("vma")}/docker.sock`,
          "docker",
          "info",
          "--format",
          "{{.Driver}}",
        ]),
      );
      expect(driver).toBe("overlay2");
      const dockerLines = body
        .split("\n")
        .filter((l) => /^rootless_(docker|collector_success)/.test(l));
      expect(
        sample(body, "rootless_docker_info", { user: "vma", storage_driver: driver }),
        dockerLines.join("\n"),
      ).toBe(1);
      expect(sample(body, "rootless_storage_driver_supported", { driver: "overlay2" })).toBe(1);
      expect(sample(body, "rootless_check_ok", { user: "vma", check: "storage_driver" })).toBe(1);
      expect((await vm.run(["test", "-d", "/home/vma/.local/share/docker/overlay2"])).code).toBe(0);
    }, 120_000);

    it("the iptables modules check reaches the verdict /proc/modules and modules.builtin give", async () => {
      const body = await scrape(ports.vma);
      const loaded = new Set(
        (await guestOut(["cat", "/proc/modules"])).split("\n").map((l) => l.split(" ")[0]),
      );
      const release = await guestOut(["uname", "-r"]);
      const builtin = new Set(
        (await guestOut(["cat", `/lib/modules/${release}/modules.builtin`]))
          .split("\n")
          .map((l) => l.replace(/^.*\//, "").replace(/\.ko$/, "")),
      );
      const present = (m: string) => loaded.has(m) || builtin.has(m);
      for (const module of ["ip_tables", "iptable_nat", "iptable_filter", "nf_tables", "overlay"])
        expect(sample(body, "rootless_kernel_module_loaded", { module }), module).toBe(
          present(module) ? 1 : 0,
        );
      const expected =
        present("nf_tables") ||
        ["ip_tables", "iptable_mangle", "iptable_nat", "iptable_filter"].every(present);
      expect(sample(body, "rootless_check_ok", { check: "iptables_modules" })).toBe(
        expected ? 1 : 0,
      );
    }, 120_000);

    it("PSI of vma's user@.service is exported and moves; propagation, SELinux, inotify and oomd agree with the guest", async () => {
      const service = `/sys/fs/cgroup/user.slice/user-${uidOf("vma")}.slice/user@${uidOf("vma")}.service`;
      const cpu = { user: "vma", resource: "cpu", kind: "some" };
      const before = await scrape(ports.vma);
      const first = sample(before, "rootless_user_pressure_seconds_total", cpu);
      expect(first, "cpu some of user@.service").toBeDefined();
      for (const resource of ["io", "memory"])
        expect(
          sample(before, "rootless_user_pressure_seconds_total", { ...cpu, resource }),
          resource,
        ).toBeDefined();
      // The exporter read the file before this read of it: its total cannot be ahead.
      const fileTotal = Number(
        /^some .*total=(\d+)$/m.exec(await guestOut(["cat", `${service}/cpu.pressure`]))?.[1],
      );
      expect(first ?? Infinity).toBeLessThanOrEqual(fileTotal / 1e6);
      // Four busy loops in vma's manager, more than the VM's CPUs: its tasks wait for a CPU. Not
      // --wait, which connects to the user's D-Bus (refused here with "Permission denied" from
      // runuser); without it systemd-run talks to the manager's own socket, as `systemctl --user`.
      const load = asUser("vma", [
        "systemd-run",
        "--user",
        "--collect",
        "--quiet",
        "--unit=rlx-psi-load",
        "-p",
        "RuntimeMaxSec=30",
        "sh",
        "-c",
        "for i in 1 2 3 4; do timeout 8 sh -c 'while :; do :; done' & done; wait",
      ]);
      const loaded = await vm.run(load, 60_000);
      expect(loaded.code, `${loaded.stderr}${loaded.stdout}`).toBe(0);
      const { body } = await metricsWhen(
        ports.vma,
        "vma's cpu pressure to grow",
        (b) => (sample(b, "rootless_user_pressure_seconds_total", cpu) ?? 0) > (first ?? Infinity),
        90_000,
      );
      console.log(
        `cpu some of vma's user@.service: ${first} s, then ${sample(body, "rootless_user_pressure_seconds_total", cpu)} s`,
      );

      const propagation = await guestOut(["findmnt", "-no", "PROPAGATION", "/"]);
      expect(sample(body, "rootless_root_mount_shared", {})).toBe(propagation === "shared" ? 1 : 0);
      const selinux = await vm.run(["cat", "/sys/fs/selinux/enforce"]);
      if (selinux.code !== 0)
        expect(sample(body, "rootless_selinux_mode", { mode: "disabled" })).toBe(1);
      const report = await scrapeUrl(`http://127.0.0.1:${vm.ports.get(ports.vma)}/checks`);
      const inotifyCheck = (
        JSON.parse(report.body) as { targets: { checks: { id: string; facts: unknown }[] }[] }
      ).targets[0]?.checks.find((c) => c.id === "inotify_instances");
      console.log(`vma's inotify_instances: ${JSON.stringify(inotifyCheck)}`);
      // vma's own systemd manager watches its unit directories with inotify.
      expect(sample(body, "rootless_inotify_instances", { user: "vma" })).toBeGreaterThan(0);
      expect(sample(body, "rootless_check_ok", { user: "vma", check: "inotify_instances" })).toBe(
        1,
      );
      const oomd = await vm.run(["systemctl", "is-active", "systemd-oomd.service"]);
      const kill = await guestOut([
        "systemctl",
        "show",
        "-p",
        "ManagedOOMMemoryPressure",
        "--value",
        `user@${uidOf("vma")}.service`,
        `user-${uidOf("vma")}.slice`,
        "user.slice",
      ]);
      const watched = oomd.stdout.trim() === "active" && kill.split("\n").includes("kill");
      expect(sample(body, "rootless_systemd_oomd_watched", { user: "vma" })).toBe(watched ? 1 : 0);
    }, 240_000);

    it("the guide's delegate.conf fix flips cgroup_delegation to pass, and the alert resolves", async () => {
      const controllersFile = `/sys/fs/cgroup/user.slice/user-${uidOf("vma")}.slice/user@${uidOf("vma")}.service/cgroup.controllers`;
      const before = (await guestOut(["cat", controllersFile])).split(" ");
      // systemd 252 delegates cpu memory pids by default: io is missing, as the check says.
      expect(before).not.toContain("io");
      expect(
        sample(await scrape(ports.vma), "rootless_check_ok", {
          user: "vma",
          check: "cgroup_delegation",
        }),
      ).toBe(0);
      if (prometheus) await waitAlert("RootlessCgroupDelegationMissing", "vma", "firing");

      const tree = join(work, "delegate");
      mkdirSync(join(tree, "etc/systemd/system/user@.service.d"), { recursive: true });
      writeFileSync(
        join(tree, "etc/systemd/system/user@.service.d/delegate.conf"),
        "[Service]\nDelegate=cpu cpuset io memory pids\n",
      );
      await vm.pushTree(tree, "root");
      await guest(["systemctl", "daemon-reload"]);
      await guest(["systemctl", "restart", `user@${uidOf("vma")}.service`], 180_000);
      const after = (await guestOut(["cat", controllersFile])).split(" ");
      expect(after).toEqual(expect.arrayContaining(["cpu", "io", "memory", "pids"]));
      // The restart took the exporter and docker.service down with the manager; both come back
      // (enabled, linger) and the check passes.
      const { body } = await metricsWhen(
        ports.vma,
        "cgroup_delegation to pass",
        (b) => sample(b, "rootless_check_ok", { user: "vma", check: "cgroup_delegation" }) === 1,
        240_000,
      );
      for (const controller of ["cpu", "cpuset", "io", "memory", "pids"])
        expect(
          sample(body, "rootless_cgroup_controller_delegated", { user: "vma", controller }),
        ).toBe(after.includes(controller) ? 1 : 0);
      if (prometheus) await waitAlert("RootlessCgroupDelegationMissing", "vma", "inactive");
    }, 420_000);

    it("loginctl disable-linger is reported within one interval, and the alert fires and resolves", async () => {
      // A login session keeps vma's manager (and so the exporter) running without linger.
      const session = vm.sshAs("vma", ["sleep", "600"]);
      try {
        await waitFor(
          "vma's login session",
          async () =>
            (await guestOut(["loginctl", "show-user", "vma", "-p", "Sessions", "--value"])) !== "",
          60_000,
        );
        const injected = Date.now();
        const faultAt = await guestNow();
        await guest(["loginctl", "disable-linger", "vma"]);
        expect(await guestOut(["loginctl", "show-user", "vma", "-p", "Linger", "--value"])).toBe(
          "no",
        );
        const off = await metricsWhen(
          ports.vma,
          "linger 0",
          (b) => sample(b, "rootless_linger_enabled", { user: "vma" }) === 0,
          60_000,
          injected,
        );
        expectReportedByNextRun(off.body, "linger", faultAt, "linger off", off.ms);
        if (prometheus) await waitAlert("RootlessLingerDisabled", "vma", "firing");
        await guest(["loginctl", "enable-linger", "vma"]);
        await metricsWhen(
          ports.vma,
          "linger 1",
          (b) => sample(b, "rootless_linger_enabled", { user: "vma" }) === 1,
        );
        if (prometheus) await waitAlert("RootlessLingerDisabled", "vma", "inactive");
      } finally {
        session.kill("SIGTERM");
      }
    }, 300_000);

    it("the user's dbus stopped is reported within one interval, and the alert fires and resolves", async () => {
      const injected = Date.now();
      const faultAt = await guestNow();
      await guest(asUser("vma", ["systemctl", "--user", "stop", "dbus.socket", "dbus.service"]));
      expect(await isActive("vma", "dbus.service")).toBe("inactive");
      const down = await metricsWhen(
        ports.vma,
        "user bus down",
        (b) => sample(b, "rootless_dbus_user_bus_up", { user: "vma" }) === 0,
        60_000,
        injected,
      );
      expectReportedByNextRun(down.body, "dbus", faultAt, "user bus down", down.ms);
      if (prometheus) await waitAlert("RootlessUserBusDown", "vma", "firing");
      await guest(asUser("vma", ["systemctl", "--user", "start", "dbus.socket"]));
      await metricsWhen(
        ports.vma,
        "user bus up",
        (b) => sample(b, "rootless_dbus_user_bus_up", { user: "vma" }) === 1,
      );
      if (prometheus) await waitAlert("RootlessUserBusDown", "vma", "inactive");
    }, 300_000);

    it("docker.service disabled while it runs is read as not enabled, and the alert fires and resolves", async () => {
      const check = (b: string) =>
        sample(b, "rootless_check_ok", { user: "vma", check: "docker_service_enabled" });
      const fileState = (b: string, state: string) =>
        sample(b, "rootless_systemd_user_unit_file_state", {
          user: "vma",
          unit: "docker.service",
          state,
        });
      expect(check(await scrape(ports.vma))).toBe(1);
      const injected = Date.now();
      // As the user, as docker/docs 10770 describes it: the daemon keeps running, unenabled.
      await guest(asUser("vma", ["systemctl", "--user", "disable", "docker.service"]));
      // The state changes when the manager has reloaded, which `disable` waits for (under TCG it
      // took seconds): the fault counts from its return.
      const faultAt = await guestNow();
      console.log(`systemctl --user disable docker took ${(Date.now() - injected) / 1000} s`);
      expect(await isActive("vma", "docker.service")).toBe("active");
      const off = await metricsWhen(
        ports.vma,
        "docker.service read as disabled",
        (b) => fileState(b, "disabled") === 1,
        60_000,
        injected,
      );
      expectReportedByNextRun(off.body, "dbus", faultAt, "docker.service disabled", off.ms);
      expect(fileState(off.body, "enabled")).toBe(0);
      expect(check(off.body)).toBe(0);
      await expectUnitFileState(off.body, "vma", "docker.service");
      if (prometheus) await waitAlert("RootlessUserUnitNotEnabled", "vma", "firing");
      await guest(asUser("vma", ["systemctl", "--user", "enable", "docker.service"]));
      const on = await metricsWhen(
        ports.vma,
        "docker.service read as enabled",
        (b) => fileState(b, "enabled") === 1 && check(b) === 1,
      );
      expect(fileState(on.body, "disabled")).toBe(0);
      if (prometheus) await waitAlert("RootlessUserUnitNotEnabled", "vma", "inactive");
    }, 300_000);

    it("a killed dockerd is reported within one interval, and the restarted one is seen", async () => {
      const pid = await guestOut(["cat", `${runtimeDir("vma")}/docker.pid`]);
      expect(pid).toMatch(/^\d+$/);
      const before = await scrape(ports.vma);
      const kitStarted = sample(before, "rootless_rootlesskit_start_time_seconds", { user: "vma" });
      // issue 21: docker.service is back within 2 s, often before the next cycle looks; the
      // restart counters see the new processes whenever the cycle comes: a deterministic report.
      const restarts = (b: string) => ({
        dockerd: sample(b, "rootless_dockerd_restarts_total", { user: "vma" }),
        rootlesskit: sample(b, "rootless_rootlesskit_restarts_total", { user: "vma" }),
      });
      const restartsBefore = restarts(before);
      expect(restartsBefore.dockerd).toBeDefined();
      expect(restartsBefore.rootlesskit).toBeDefined();
      // systemd's own count of docker.service's automatic restarts, as the exporter serves it.
      const unitRestarts = (b: string) =>
        sample(b, "rootless_systemd_user_unit_restarts_total", {
          user: "vma",
          unit: "docker.service",
        });
      const nBefore = unitRestarts(before);
      expect(nBefore).toBe(await nRestarts("vma", "docker.service"));
      const injected = Date.now();
      const faultAt = await guestNow();
      await guest(["kill", "-KILL", pid]);
      // dockerd gone takes rootlesskit and so docker.service with it, which restarts in 2 s
      // (Restart=always): any of these is the exporter reporting the kill.
      const down = await metricsWhen(
        ports.vma,
        "dockerd down",
        (b) =>
          sample(b, "rootless_dockerd_up", { user: "vma" }) === 0 ||
          sample(b, "rootless_docker_api_up", { user: "vma" }) === 0 ||
          sample(b, "rootless_rootlesskit_up", { user: "vma" }) === 0 ||
          (restarts(b).dockerd ?? 0) > (restartsBefore.dockerd ?? 0) ||
          sample(b, "rootless_systemd_user_unit_state", {
            user: "vma",
            unit: "docker.service",
            state: "active",
          }) === 0,
        60_000,
        injected,
      );
      const byDocker =
        sample(down.body, "rootless_dockerd_up", { user: "vma" }) === 0 ||
        sample(down.body, "rootless_docker_api_up", { user: "vma" }) === 0 ||
        (restarts(down.body).dockerd ?? 0) > (restartsBefore.dockerd ?? 0);
      const byKit = sample(down.body, "rootless_rootlesskit_up", { user: "vma" }) === 0;
      const collector = byDocker ? "docker" : byKit ? "rootlesskit" : "dbus";
      expectReportedByNextRun(down.body, collector, faultAt, "killed dockerd", down.ms);
      // docker.service (Restart=always) starts a new rootlesskit and dockerd; the exporter follows.
      expect(kitStarted).toBeDefined();
      await metricsWhen(
        ports.vma,
        "a new rootlesskit and dockerd",
        (b) =>
          sample(b, "rootless_docker_api_up", { user: "vma" }) === 1 &&
          (sample(b, "rootless_rootlesskit_start_time_seconds", { user: "vma" }) ?? 0) >
            (kitStarted ?? Infinity),
        180_000,
      );
      const newPid = await guestOut(["cat", `${runtimeDir("vma")}/docker.pid`]);
      expect(newPid).not.toBe(pid);
      // One kill, one new dockerd and one new rootlesskit: each counter up by exactly one.
      const after = await metricsWhen(
        ports.vma,
        "both restarts counted",
        (b) => (restarts(b).dockerd ?? 0) > (restartsBefore.dockerd ?? 0),
        60_000,
      );
      expect(restarts(after.body)).toEqual({
        dockerd: (restartsBefore.dockerd ?? 0) + 1,
        rootlesskit: (restartsBefore.rootlesskit ?? 0) + 1,
      });
      // One kill, one automatic restart by systemd: NRestarts up by exactly one, as systemctl says.
      const counted = await metricsWhen(
        ports.vma,
        "docker.service's NRestarts to move",
        (b) => (unitRestarts(b) ?? 0) > (nBefore ?? Infinity),
        60_000,
      );
      expect(unitRestarts(counted.body)).toBe((nBefore ?? 0) + 1);
      expect(await nRestarts("vma", "docker.service")).toBe((nBefore ?? 0) + 1);
    }, 300_000);
  },
);

/** Where the system unit runs main.js from: its ExecStart names the path. */
function systemUnitMain(): string {
  const unit = readFileSync(systemUnit, "utf8");
  const main = /^ExecStart=.*?(\/\S+\/dist\/main\.js)/m.exec(unit)?.[1];
  if (!main) throw new Error(`${systemUnit}: no ExecStart naming .../dist/main.js`);
  return main;
}

/** Host mode sees every user the guide set up, each with the right linger and subid range. */
async function expectAllUsers(body: string): Promise<void> {
  for (const user of ["vma", "vmb", "vmc"]) {
    expect(sample(body, "rootless_target_info", { user, uid: String(uidOf(user)) }), user).toBe(1);
    const linger = await guestOut(["loginctl", "show-user", user, "-p", "Linger", "--value"]);
    expect(sample(body, "rootless_linger_enabled", { user }), user).toBe(linger === "yes" ? 1 : 0);
  }
  expect(sample(body, "rootless_subid_range_size", { user: "vma", kind: "uid" })).toBe(65536);
  expect(sample(body, "rootless_subid_range_size", { user: "vmb", kind: "uid" })).toBe(65536);
  expect(sample(body, "rootless_subid_range_size", { user: "vmc", kind: "uid" })).toBe(1000);
  expect(sample(body, "rootless_dockerd_up", { user: "vma" })).toBe(1);
}

async function stopUserUnits(): Promise<void> {
  for (const user of ["vma", "vmc"])
    await vm.run(
      asUser(user, ["systemctl", "--user", "disable", "--now", "rootless-exporter.service"]),
    );
}

describe.skipIf(skip !== undefined || requireOnCi(hostModeOwn))(
  withReason("real host: host mode as the system unit from deploy/systemd/", hostModeSkip),
  () => {
    let work = "";
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), "rootless-exporter-vm-unit-"));
      await stopUserUnits();
      const main = systemUnitMain();
      stageExporter(projectRoot, work, dirname(dirname(main)));
      mkdirSync(join(work, "etc/systemd/system"), { recursive: true });
      cpSync(systemUnit, join(work, "etc/systemd/system/rootless-exporter.service"));
      await vm.pushTree(work, "root");
      await guest(["systemctl", "daemon-reload"]);
      await guest(["systemctl", "enable", "--now", "rootless-exporter.service"]);
    }, 300_000);
    afterAll(async () => {
      await vm?.run(["systemctl", "disable", "--now", "rootless-exporter.service"]);
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("watches vma, vmb and vmc, as logind and /etc/subuid say", async () => {
      const { body } = await metricsWhen(
        10049,
        "all three users",
        // Every user's linger, and vma's daemon: under TCG the docker collector's first run
        // (GET /info of a cold dockerd) ends well after the others.
        (b) =>
          ["vma", "vmb", "vmc"].every(
            (user) => sample(b, "rootless_linger_enabled", { user }) !== undefined,
          ) && sample(b, "rootless_dockerd_up", { user: "vma" }) !== undefined,
        180_000,
      );
      await expectAllUsers(body);
    }, 240_000);
  },
);

describe.skipIf(hostModeSkip !== undefined || requireOnCi(containerOwn))(
  withReason("real host: host mode in the container image, built in the VM", containerSkip),
  () => {
    let work = "";
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), "rootless-exporter-vm-image-"));
      await stopUserUnits();
      await vm.run(["systemctl", "disable", "--now", "rootless-exporter.service"]);
      // The VM has no registry: a base made from Debian packages (scripts/vm-image.sh), and the
      // application built here, in the build context (the Dockerfile's APP=context).
      const context = join(work, "root/build");
      stageExporter(projectRoot, join(work, "root"), "/build");
      cpSync(join(projectRoot, "Dockerfile"), join(context, "Dockerfile"));
      cpSync(baseTar, join(work, "root/node-base.tar"));
      await vm.pushTree(work, "root", 600_000);
      await guest(["systemctl", "start", "docker.service"], 120_000);
      await guest(
        ["docker", "import", "/root/node-base.tar", "rootless-exporter-base:local"],
        300_000,
      );
      await guest(
        [
          "env",
          "DOCKER_BUILDKIT=1",
          "docker",
          "build",
          "--build-arg",
          "BASE=rootless-exporter-base:local",
          "--build-arg",
          "APP=context",
          "-t",
          "rootless-exporter",
          "/root/build",
        ],
        600_000,
      );
      // As README.md says ("Run on a fleet"), without --target.user: host mode, with only the
      // capabilities the README gives.
      await guest([
        "docker",
        "run",
        "-d",
        "--name",
        "rootless-exporter",
        "--pid=host",
        "--net=host",
        "--cap-drop=ALL",
        "--cap-add=DAC_READ_SEARCH",
        "--cap-add=DAC_OVERRIDE",
        "--cap-add=SYS_PTRACE",
        "--cap-add=SETUID",
        "--cap-add=SETGID",
        "--cap-add=KILL",
        "-v",
        "/:/host:ro,rslave",
        "rootless-exporter",
      ]);
    }, 1_200_000);
    afterAll(async () => {
      await vm?.run(["docker", "rm", "-f", "rootless-exporter"]);
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("watches vma, vmb and vmc, as logind and /etc/subuid say", async () => {
      const { body } = await metricsWhen(
        10049,
        "all three users",
        // Every user's linger, and vma's daemon: under TCG the docker collector's first run
        // (GET /info of a cold dockerd) ends well after the others.
        (b) =>
          ["vma", "vmb", "vmc"].every(
            (user) => sample(b, "rootless_linger_enabled", { user }) !== undefined,
          ) && sample(b, "rootless_dockerd_up", { user: "vma" }) !== undefined,
        180_000,
      );
      await expectAllUsers(body);
    }, 240_000);
  },
);
