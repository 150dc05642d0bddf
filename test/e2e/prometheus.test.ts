import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, projectRoot, startDaemon } from "../helpers/daemon.js";
import type { RootlessDocker, TestUser } from "../helpers/rootless-docker.js";
import {
  alive,
  asUser,
  startRootlessDocker,
  testUser,
  waitFor,
} from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// A real Prometheus (Debian's) scrapes the exporter that watches a real rootless Docker, with the
// project's alert rules (for: durations cut to seconds); faults must fire and resolve the alerts,
// and `check` must agree at each step.
const userName = process.env["ROOTLESS_TEST_USER"];
const prometheusBin = "/usr/bin/prometheus";
const rootlessScript = "/usr/share/docker.io/contrib/dockerd-rootless.sh";
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [userName !== undefined, "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)"],
  [existsSync(prometheusBin), `${prometheusBin} is missing (apt-get install prometheus)`],
  [existsSync(rootlessScript), `${rootlessScript} is missing (apt-get install docker.io)`],
);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe.skipIf(requireOnCi(missing))(withReason("alerts on a real Prometheus", missing), () => {
  let user: TestUser;
  let docker: RootlessDocker;
  let exporter: RunningDaemon;
  let prometheus: ChildProcess;
  let userBus: ChildProcess;
  let promUrl = "";
  let work = "";
  const lingerDir = "/var/lib/systemd/linger";
  let createdLingerDir = false;
  const lingerFile = () => join(lingerDir, user.name);

  async function api<T>(path: string): Promise<T> {
    const body = (await (await fetch(`${promUrl}${path}`)).json()) as { data: T };
    return body.data;
  }
  async function activeAlerts(): Promise<{ labels: Record<string, string>; state: string }[]> {
    return (
      await api<{ alerts: { labels: Record<string, string>; state: string }[] }>("/api/v1/alerts")
    ).alerts;
  }
  const firing = async (name: string) =>
    (await activeAlerts()).some(
      (a) =>
        a.labels["alertname"] === name && a.state === "firing" && a.labels["user"] === user.name,
    );
  const active = async (name: string) =>
    (await activeAlerts()).some((a) => a.labels["alertname"] === name);
  async function value(query: string): Promise<number | undefined> {
    const result = await api<{ result: { value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(query)}`,
    );
    return result.result[0] ? Number(result.result[0].value[1]) : undefined;
  }

  /** `rootless-exporter check --json` as the user: exit code and failing check ids. */
  function check(): Promise<{ code: number; failing: string[] }> {
    const [file = "", ...args] = [
      ...asUser(user, { XDG_RUNTIME_DIR: docker.runtimeDir }),
      process.execPath,
      builtMain,
      "check",
      "--json",
      "--collect.rpc-timeout=500ms",
    ];
    return new Promise((resolve) => {
      execFile(file, args, { timeout: 30_000 }, (error, stdout) => {
        const report = JSON.parse(stdout) as {
          targets: { checks: { id: string; state: string }[] }[];
        };
        const failing = (report.targets[0]?.checks ?? [])
          .filter((c) => c.state === "fail")
          .map((c) => c.id);
        resolve({ code: typeof error?.code === "number" ? error.code : 0, failing });
      });
    });
  }

  beforeAll(async () => {
    user = testUser(userName ?? "");
    work = mkdtempSync(join(tmpdir(), "rootless-exporter-prom-"));
    if (!existsSync(lingerDir)) {
      mkdirSync(lingerDir, { recursive: true });
      createdLingerDir = true;
    }
    writeFileSync(lingerFile(), "");
    docker = await startRootlessDocker(user);
    // A session bus of the user's own at $XDG_RUNTIME_DIR/bus, where the exporter looks for it.
    const bus = join(docker.runtimeDir, "bus");
    const [busFile = "", ...busArgs] = [
      ...asUser(user, { XDG_RUNTIME_DIR: docker.runtimeDir }),
      "dbus-daemon",
      "--session",
      `--address=unix:path=${bus}`,
      "--nofork",
      "--nopidfile",
    ];
    userBus = spawn(busFile, busArgs, { stdio: "ignore" });
    await waitFor("the user bus", () => existsSync(bus), 10_000);
    exporter = await startDaemon(["--collect.interval=1s", "--collect.rpc-timeout=500ms"], {
      wrapper: asUser(user, { XDG_RUNTIME_DIR: docker.runtimeDir }),
    });

    const rules = readFileSync(join(projectRoot, "deploy/prometheus/rules.yml"), "utf8").replace(
      /for: \d+m/g,
      "for: 3s",
    );
    writeFileSync(join(work, "rules.yml"), rules);
    writeFileSync(
      join(work, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: rootless-exporter\n    static_configs:\n      - targets: ["127.0.0.1:${exporter.port}"]\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      prometheusBin,
      [
        `--config.file=${join(work, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(work, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: "ignore" },
    );
    await waitFor(
      "Prometheus to be ready",
      async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200,
      30_000,
    );
  }, 180_000);

  afterAll(async () => {
    prometheus?.kill("SIGTERM");
    await exporter?.stop();
    if (userBus?.pid && alive(userBus.pid)) userBus.kill("SIGTERM");
    await docker?.stop();
    rmSync(lingerFile(), { force: true });
    if (createdLingerDir) rmSync(lingerDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it("scrapes the exporter: target up, daemon up, linger on", async () => {
    await waitFor(
      "the target to be up",
      async () => {
        const targets = await api<{ activeTargets: { health: string }[] }>("/api/v1/targets");
        return targets.activeTargets[0]?.health === "up";
      },
      30_000,
    );
    await waitFor(
      "linger and dockerd seen",
      async () =>
        (await value(`rootless_linger_enabled{user="${user.name}"}`)) === 1 &&
        (await value(`rootless_dockerd_up{user="${user.name}"}`)) === 1,
      30_000,
    );
    expect(await active("RootlessLingerDisabled")).toBe(false);
    expect(await active("RootlessUserBusDown")).toBe(false);
    const { failing } = await check();
    expect(failing).not.toContain("linger");
    expect(failing).not.toContain("dockerd_running");
    expect(failing).not.toContain("dbus_user_bus");
  });

  it("RootlessLingerDisabled fires when linger goes off and resolves when it comes back", async () => {
    rmSync(lingerFile());
    await waitFor("RootlessLingerDisabled to fire", () => firing("RootlessLingerDisabled"), 30_000);
    const off = await check();
    expect(off.failing).toContain("linger");
    expect(off.code).toBeGreaterThanOrEqual(1);
    writeFileSync(lingerFile(), "");
    await waitFor(
      "RootlessLingerDisabled to resolve",
      async () => !(await active("RootlessLingerDisabled")),
      30_000,
    );
    expect((await check()).failing).not.toContain("linger");
  });

  it("RootlessUserBusDown fires when the user bus stops", async () => {
    userBus.kill("SIGTERM");
    await waitFor("RootlessUserBusDown to fire", () => firing("RootlessUserBusDown"), 30_000);
    expect((await check()).failing).toContain("dbus_user_bus");
  });

  it("RootlessDockerdDown fires when dockerd stops, and check exits 2", async () => {
    const dockerd = Number(readFileSync(join(docker.runtimeDir, "docker.pid"), "utf8"));
    docker.processTree();
    process.kill(dockerd, "SIGTERM");
    await waitFor("dockerd to exit", () => !alive(dockerd), 30_000);
    await waitFor("RootlessDockerdDown to fire", () => firing("RootlessDockerdDown"), 30_000);
    const down = await check();
    expect(down.code).toBe(2);
    expect(down.failing).toContain("dockerd_running");
  });
});
