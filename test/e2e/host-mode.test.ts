import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { projectRoot, seriesLines, startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon as pollMetrics, scrape } from "../helpers/expect-soon.js";
import type { RootlessDocker, TestUser } from "../helpers/rootless-docker.js";
import {
  alive,
  asUser,
  startRootlessDocker,
  testUser,
  waitFor,
} from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// Host mode end to end: the exporter as root with no --target.user watches every user of this
// machine. Three real users: A runs a real rootless Docker with the builtin port driver and has a
// session bus of their own, B one with the slirp4netns port driver, C only has subordinate IDs.
const rootlessScript = "/usr/share/docker.io/contrib/dockerd-rootless.sh";
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [
    process.env["ROOTLESS_TEST_USER"] !== undefined,
    "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)",
  ],
  [existsSync(rootlessScript), `${rootlessScript} is missing (apt-get install docker.io)`],
);
const prometheusBin = "/usr/bin/prometheus";
const names = { a: "rlx-host-a", b: "rlx-host-b", c: "rlx-host-c" } as const;
const interval = 1000;

/** A user as `useradd` makes one on Debian: a home and a subordinate ID range of 65,536. */
function ensureUser(name: string): TestUser {
  if (
    !readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .some((l) => l.startsWith(`${name}:`))
  )
    execFileSync("useradd", ["--create-home", "--shell", "/bin/bash", name]);
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    if (
      !readFileSync(file, "utf8")
        .split("\n")
        .some((l) => l.startsWith(`${name}:`))
    )
      execFileSync("usermod", [
        file === "/etc/subuid" ? "--add-subuids" : "--add-subgids",
        rangeFor(name),
        name,
      ]);
  }
  const user = testUser(name);
  // logind makes /run/user/UID at login; these users never log in, so the test does.
  const runtimeDir = `/run/user/${user.uid}`;
  mkdirSync(runtimeDir, { recursive: true });
  chownSync(runtimeDir, user.uid, user.gid);
  chmodSync(runtimeDir, 0o700);
  return user;
}

/** Ranges apart from useradd's own (100000 up) and from each other. */
function rangeFor(name: string): string {
  const base =
    { [names.a]: 3_000_000, [names.b]: 3_100_000, [names.c]: 3_200_000 }[name] ?? 3_300_000;
  return `${base}-${base + 65535}`;
}

/** Polls /metrics until `check` holds (within three intervals unless told), timing every scrape. */
const expectSoon = (
  exporter: RunningDaemon,
  what: string,
  check: (body: string) => boolean,
  timeoutMs = 3 * interval + 2000,
) => pollMetrics(exporter, what, check, timeoutMs);

function stateDirOf(pid: number): string {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    if (link.endsWith("/lock")) return dirname(link);
  }
  throw new Error(`rootlesskit ${pid} holds no lock`);
}

const of = (body: string, metric: string, user: string, extra = "") =>
  valueOf(body, `${metric}{user="${user}"${extra}}`);

describe.skipIf(requireOnCi(missing))(
  withReason("host mode: one root exporter watches every user", missing),
  () => {
    let a: TestUser;
    let b: TestUser;
    let c: TestUser;
    let dockerA: RootlessDocker;
    let dockerB: RootlessDocker;
    let busA: ChildProcess | undefined;
    let exporter: RunningDaemon;
    let prometheus: ChildProcess | undefined;
    let promUrl = "";
    let work = "";

    beforeAll(async () => {
      a = ensureUser(names.a);
      b = ensureUser(names.b);
      c = ensureUser(names.c);
      work = mkdtempSync(join(tmpdir(), "rootless-exporter-host-"));
      for (const user of [a, b])
        rmSync(join(user.home, ".local/share/docker"), { recursive: true, force: true });
      [dockerA, dockerB] = await Promise.all([
        startRootlessDocker(
          a,
          { DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "builtin" },
          `/run/user/${a.uid}`,
        ),
        startRootlessDocker(
          b,
          { DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "slirp4netns" },
          `/run/user/${b.uid}`,
        ),
      ]);
      // A session bus of A's own: only A's uid may talk to it (dbus-daemon's EXTERNAL check).
      const bus = `/run/user/${a.uid}/bus`;
      const [busFile = "", ...busArgs] = [
        ...asUser(a, { XDG_RUNTIME_DIR: `/run/user/${a.uid}` }),
        "dbus-daemon",
        "--session",
        `--address=unix:path=${bus}`,
        "--nofork",
        "--nopidfile",
      ];
      busA = spawn(busFile, busArgs, { stdio: "ignore" });
      await waitFor("A's session bus", () => existsSync(bus), 10_000);
      exporter = await startDaemon(["--collect.interval=1s", "--collect.rpc-timeout=4s"], {
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      });
    }, 240_000);

    afterAll(async () => {
      prometheus?.kill("SIGTERM");
      await exporter?.stop();
      if (busA?.pid && alive(busA.pid)) busA.kill("SIGTERM");
      await Promise.all([dockerA?.stop(), dockerB?.stop()]);
      if (work) rmSync(work, { recursive: true, force: true });
    }, 90_000);

    it("reports every user's own series, and none for root or system users", async () => {
      const { body } = await expectSoon(
        exporter,
        "A and B up, C without a daemon",
        (text) =>
          of(text, "rootless_dockerd_up", a.name) === 1 &&
          of(text, "rootless_dockerd_up", b.name) === 1 &&
          of(text, "rootless_rootlesskit_up", c.name) === 0 &&
          of(text, "rootless_dbus_user_bus_up", a.name) === 1 &&
          // Each daemon's own /v1/info answered (its first answer may come a cycle later).
          [a.name, b.name].every((user) =>
            seriesLines(text).some((l) => l.startsWith(`rootless_rootlesskit_info{user="${user}"`)),
          ) &&
          of(text, "rootless_compliant", c.name) !== undefined,
        60_000,
      );
      for (const user of [a, b, c]) {
        expect(body).toContain(
          `rootless_target_info{user="${user.name}",uid="${user.uid}",runtime_dir="/run/user/${user.uid}"} 1`,
        );
        expect(
          of(body, "rootless_subid_range_size", user.name, ',kind="uid"'),
        ).toBeGreaterThanOrEqual(65536);
      }
      expect(valueOf(body, 'rootless_targets_watched{mode="host"}')).toBeGreaterThanOrEqual(3);
      // The two port drivers, each as its own rootlesskit reports it.
      const info = (user: string) =>
        seriesLines(body).find((l) => l.startsWith(`rootless_rootlesskit_info{user="${user}"`)) ??
        "";
      expect(info(a.name)).toContain('port_driver="builtin"');
      expect(info(b.name)).toContain('port_driver="slirp4netns"');
      // A's bus answered the root exporter because it connected with A's credentials; B has none.
      expect(of(body, "rootless_dbus_user_bus_up", b.name)).toBe(0);
      expect(of(body, "rootless_dockerd_up", c.name)).toBe(0);
      expect(of(body, "rootless_network_driver_up", b.name, ',driver="slirp4netns"')).toBe(1);
      // Every user label is a user of uid >= 1000 (UID_MIN): never root, never a system account.
      const passwd = new Map(
        readFileSync("/etc/passwd", "utf8")
          .split("\n")
          .map((l) => l.split(":"))
          .map((f) => [f[0] ?? "", Number(f[2])] as const),
      );
      const users = new Set([...body.matchAll(/user="([^"]+)"/g)].map((m) => m[1] ?? ""));
      for (const user of users) expect(passwd.get(user) ?? -1).toBeGreaterThanOrEqual(1000);
      expect(users.has("root")).toBe(false);
    }, 90_000);

    it("a hung api.sock of B delays neither A's values nor /metrics", async () => {
      const dir = stateDirOf(dockerB.pid);
      const socket = join(dir, "api.sock");
      renameSync(socket, `${socket}.real`);
      const held: Socket[] = [];
      const hung: Server = createServer((conn) => void held.push(conn));
      await new Promise<void>((resolve) => hung.listen(socket, resolve));
      chownSync(socket, b.uid, b.gid);
      try {
        // Wait for a cycle that is stuck on B's socket (the exporter's request held open, unanswered),
        // then stop A's dockerd meanwhile.
        await waitFor(
          "the exporter's request to hang on B's api.sock",
          () => held.length > 0,
          5000,
        );
        const stuckSince = performance.now();
        const dockerd = Number(readFileSync(`/run/user/${a.uid}/docker.pid`, "utf8"));
        dockerA.processTree();
        process.kill(dockerd, "SIGTERM");
        await waitFor("A's dockerd to exit", () => !alive(dockerd), 30_000);
        // A's change shows well before B's 4 s RPC timeout could have let a shared cycle finish.
        const seen = await expectSoon(
          exporter,
          "A's dockerd down while B's API hangs",
          (text) => of(text, "rootless_dockerd_up", a.name) === 0,
          3500,
        );
        expect(seen.slowestScrapeMs).toBeLessThan(250);
        expect(of(seen.body, "rootless_dockerd_up", b.name)).toBe(1);
        // Measured while B's request was still pending: the exporter had not given up on it.
        expect(held.some((conn) => !conn.destroyed)).toBe(true);
        expect(performance.now() - stuckSince).toBeLessThan(4000);
        const bDown = await expectSoon(
          exporter,
          "B's API reported down after its timeout",
          (text) => of(text, "rootless_rootlesskit_api_up", b.name) === 0,
          15_000,
        );
        expect(bDown.slowestScrapeMs).toBeLessThan(250);
      } finally {
        for (const conn of held) conn.destroy();
        await new Promise((resolve) => hung.close(resolve));
        rmSync(socket, { force: true });
        renameSync(`${socket}.real`, socket);
      }
      // Only A's series changed: B is whole again and still up.
      const back = await expectSoon(
        exporter,
        "B's API back",
        (text) => of(text, "rootless_rootlesskit_api_up", b.name) === 1,
        15_000,
      );
      expect(of(back.body, "rootless_dockerd_up", b.name)).toBe(1);
      expect(of(back.body, "rootless_dockerd_up", a.name)).toBe(0);
    }, 90_000);

    it("a real Prometheus fires RootlessDockerdDown for exactly A and reads the fleet ratio", async () => {
      const rules = readFileSync(join(projectRoot, "deploy/prometheus/rules.yml"), "utf8").replace(
        /for: \d+m/g,
        "for: 2s",
      );
      writeFileSync(join(work, "rules.yml"), rules);
      writeFileSync(
        join(work, "prometheus.yml"),
        `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: rootless-exporter\n    static_configs:\n      - targets: ["127.0.0.1:${exporter.port}"]\n`,
      );
      const port = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, "127.0.0.1", () => {
          const { port: p } = server.address() as { port: number };
          server.close(() => resolve(p));
        });
      });
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
      const api = async <T>(path: string): Promise<T> =>
        ((await (await fetch(`${promUrl}${path}`)).json()) as { data: T }).data;
      await waitFor(
        "Prometheus to be ready",
        async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200,
        30_000,
      );
      const down = async () =>
        (
          await api<{ alerts: { labels: Record<string, string>; state: string }[] }>(
            "/api/v1/alerts",
          )
        ).alerts.filter(
          (x) => x.labels["alertname"] === "RootlessDockerdDown" && x.state === "firing",
        );
      await waitFor(
        "RootlessDockerdDown to fire for A",
        async () => (await down()).length > 0,
        60_000,
      );
      const firing = new Set((await down()).map((x) => x.labels["user"]));
      expect(firing.has(a.name)).toBe(true);
      expect(firing.has(b.name)).toBe(false);
      // The recording rule's fleet ratio is what the exporter's own series say.
      const query = async (q: string) =>
        (
          await api<{ result: { value: [number, string] }[] }>(
            `/api/v1/query?query=${encodeURIComponent(q)}`,
          )
        ).result[0]?.value[1];
      await waitFor(
        "the ratio to be recorded",
        async () => (await query("rootless:users_compliant:ratio")) !== undefined,
        30_000,
      );
      const { body } = await scrape(exporter);
      const compliant = seriesLines(body).filter((l) => l.startsWith("rootless_compliant{"));
      const expected = compliant.filter((l) => l.endsWith(" 1")).length / compliant.length;
      await waitFor(
        "rootless:users_compliant:ratio to match the exporter",
        async () =>
          Math.abs(Number(await query("rootless:users_compliant:ratio")) - expected) < 1e-9,
        30_000,
      );
    }, 90_000);

    it("a user deleted with userdel loses every series at once", async () => {
      const before = (await scrape(exporter)).body;
      expect(before).toContain(`user="${c.name}"`);
      execFileSync("userdel", [c.name]);
      rmSync(`/run/user/${c.uid}`, { recursive: true, force: true });
      const gone = await expectSoon(
        exporter,
        "C's series gone",
        (text) => !text.includes(`user="${c.name}"`),
      );
      expect(gone.slowestScrapeMs).toBeLessThan(250);
      expect(gone.body).toContain(`user="${b.name}"`);
    }, 90_000);
  },
);
