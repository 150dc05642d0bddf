import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import type { Stats } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, startDaemon, valueOf, waitForMetrics } from "../helpers/daemon.js";
import type { Rootlesskit } from "../helpers/rootlesskit.js";
import { startRootlesskit } from "../helpers/rootlesskit.js";
import type { TestUser } from "../helpers/rootless-docker.js";
import {
  asHostile,
  hostileMissing,
  hostileUser,
  hostileUserName,
} from "../helpers/hostile-user.js";
import { alive, asUser, waitFor } from "../helpers/rootless-docker.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";

// issue 10, defects 1-4, as a hostile user would try them on a root exporter: the user plants
// files in their own runtime and state dirs; the exporter runs as root with --target.user.
// Needs root and the user rlx-hostile (scripts/test-all.sh makes it, with subuids 1000000:65536).
const run = promisify(execFile);
const userName = hostileUserName;
const user = hostileUser;
const missing = hostileMissing;
// Short enough that even a 20-character excerpt of the file would hold all of it.
const secret = `TOPSECRET-${process.pid % 10_000}`;

function lstatExists(path: string): boolean {
  try {
    return lstatSync(path) !== undefined;
  } catch {
    return false;
  }
}

describe.skipIf(requireOnCi(missing))(
  withReason(`a hostile ${userName} against a root exporter (needs root and the user)`, missing),
  () => {
    const u = user as TestUser;
    const runtimeDir = `/run/user/${u.uid}`;
    let madeRuntimeDir = false;
    let vault: string; // root-only: the secret and a file the user would like overwritten
    const daemons: RunningDaemon[] = [];
    const exporter = async (args: string[]) => {
      const d = await startDaemon([`--target.user=${userName}`, "--log.level=debug", ...args]);
      daemons.push(d);
      return d;
    };

    beforeAll(() => {
      if (!existsSync(runtimeDir)) {
        mkdirSync(runtimeDir, { mode: 0o700 });
        chownSync(runtimeDir, u.uid, u.gid);
        madeRuntimeDir = true;
      }
      vault = mkdtempSync("/var/tmp/rootless-exporter-vault-");
      chmodSync(vault, 0o700);
      writeFileSync(join(vault, "secret"), `${secret}\n`, { mode: 0o600 });
      writeFileSync(join(vault, "victim"), "precious\n", { mode: 0o600 });
    });
    afterEach(async () => {
      for (const d of daemons.splice(0)) await d.stop();
      // Only what these tests plant: the runtime dir may be a real one.
      for (const name of ["docker.pid", "dockerd-rootless", "rootless-exporter-probe.json"])
        await asHostile("rm", "-rf", join(runtimeDir, name));
    });
    afterAll(() => {
      rmSync(vault, { recursive: true, force: true });
      if (madeRuntimeDir) rmSync(runtimeDir, { recursive: true, force: true });
    });

    it("a FIFO at docker.pid: check returns, /metrics and /healthz answer, SIGTERM ends it", async () => {
      await asHostile("mkfifo", join(runtimeDir, "docker.pid"));
      const started = Date.now();
      // check exits non-zero when checks fail; what matters is that it exits, and in time.
      const checked = await run(
        process.execPath,
        [builtMain, "check", `--target.user=${userName}`],
        {
          timeout: 30_000,
        },
      ).catch((err: { stdout?: string; killed?: boolean; signal?: string }) => err);
      expect((checked as { killed?: boolean }).killed ?? false).toBe(false);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(String((checked as { stdout?: string }).stdout)).toMatch(/dockerd_running/);

      const d = await exporter(["--collect.interval=1s"]);
      const body = await waitForMetrics(d, (b) =>
        /rootless_collector_success\{collector="docker"\} 1/.test(b),
      );
      // docker.pid refused unread: whether dockerd runs is unknown, so the series is absent.
      expect(valueOf(body, `rootless_dockerd_up{user="${userName}"}`)).toBeUndefined();
      let slowest = 0;
      for (let i = 0; i < 20; i++) {
        for (const path of ["/metrics", "/healthz"]) {
          const t = performance.now();
          expect((await fetch(d.url(path), { signal: AbortSignal.timeout(2000) })).status).toBe(
            200,
          );
          slowest = Math.max(slowest, performance.now() - t);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(slowest).toBeLessThan(1000);
      const checks = await (await fetch(d.url("/checks"))).text();
      expect(checks).toMatch(
        /whether dockerd runs \(docker\.pid: unsafe, and the API does not answer\)/,
      );
      expect(d.logs.join("\n")).toMatch(/docker\.pid is not a regular file/);
      const t = Date.now();
      expect(await d.stop()).toBe(0);
      expect(Date.now() - t).toBeLessThan(6000);
    });

    it("an exporter that cannot read the runtime dir leaves rootless_dockerd_up out", async () => {
      // The user's dockerd wrote docker.pid; an exporter running as nobody cannot search the
      // 0700 runtime dir, so whether dockerd runs is unknown to it, not 0.
      await asHostile("sh", "-c", `echo 4242 > ${join(runtimeDir, "docker.pid")}`);
      const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      const d = await startDaemon(
        [`--target.user=${userName}`, "--collector.disable-defaults", "--collector.docker"],
        { wrapper: nobody },
      );
      daemons.push(d);
      const body = await waitForMetrics(d, (b) =>
        /rootless_collector_success\{collector="docker"\} 1/.test(b),
      );
      expect(valueOf(body, `rootless_docker_api_up{user="${userName}"}`)).toBe(0);
      expect(valueOf(body, `rootless_dockerd_up{user="${userName}"}`)).toBeUndefined();
      const checks = await (await fetch(d.url("/checks"))).text();
      expect(checks).toMatch(
        /whether dockerd runs \(docker\.pid: unreadable, and the API does not answer\)/,
      );
    });

    it("a child_pid symlink to a root-only secret, and a garbage child_pid: never echoed", async () => {
      const stateDir = join(runtimeDir, "dockerd-rootless");
      await asHostile("mkdir", stateDir);
      await asHostile("ln", "-s", join(vault, "secret"), join(stateDir, "child_pid"));
      const d = await exporter(["--collect.interval=1s"]);
      await waitForMetrics(d, (b) =>
        /rootless_collector_success\{collector="rootlesskit"\} 1/.test(b),
      );
      const pages = async () =>
        Promise.all(["/checks", "/", "/metrics"].map(async (p) => (await fetch(d.url(p))).text()));
      const check = async (...extra: string[]) =>
        run(process.execPath, [builtMain, "check", `--target.user=${userName}`, ...extra], {
          timeout: 30_000,
        }).then(
          (r) => r.stdout + r.stderr,
          (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
        );
      for (const text of [
        ...(await pages()),
        await check(),
        await check("--json"),
        d.logs.join("\n"),
      ])
        expect(text).not.toContain(secret);

      // The same bytes as the user's own regular file: "not a pid", with its size only.
      await asHostile("rm", join(stateDir, "child_pid"));
      await asHostile("sh", "-c", `printf '%s' '${secret}' > ${join(stateDir, "child_pid")}`);
      const body = await waitForMetrics(
        d,
        (b) => /is not a pid \(\d+ bytes\)/.test(b),
        10_000,
        "/checks",
      );
      for (const text of [body, ...(await pages()), await check(), d.logs.join("\n")])
        expect(text).not.toContain(secret);
    });

    describe("the probe", () => {
      let kit: Rootlesskit;
      let recorder: Server;
      const requests: string[] = [];
      const probeArgs = [
        "--collector.disable-defaults",
        "--collector.probe",
        "--collect.interval=1s",
        "--probe.timeout=10s",
      ];

      beforeAll(async () => {
        kit = await startRootlesskit(u, ["--port-driver=builtin"]);
        // Someone else's API socket, owned by root: where a planted journal would send a DELETE.
        mkdirSync(join(vault, "other-state"));
        recorder = createServer((req, res) => {
          requests.push(`${req.method} ${req.url}`);
          res.end("{}");
        });
        await new Promise<void>((r) => recorder.listen(join(vault, "other-state/api.sock"), r));
      }, 60_000);
      afterAll(async () => {
        recorder?.close();
        await kit?.stop();
      });

      /** The probe agents running now, with their uid and gid lines from /proc. */
      function agents(): { pid: number; uid: string; gid: string }[] {
        const found = [];
        for (const p of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
          try {
            if (!readFileSync(`/proc/${p}/cmdline`, "utf8").includes("probe-agent")) continue;
            const status = readFileSync(`/proc/${p}/status`, "utf8");
            const line = (k: string) =>
              /^\w+:\s+(.*)$/m.exec(
                status.split("\n").find((l) => l.startsWith(`${k}:`)) ?? "",
              )?.[1] ?? "";
            found.push({ pid: Number(p), uid: line("Uid"), gid: line("Gid") });
          } catch {
            // gone meanwhile
          }
        }
        return found;
      }

      it("the agent runs with the user's uid and gid, never root's", async () => {
        const d = await exporter([...probeArgs, "--probe.bytes=4GiB", "--probe.timeout=30s"]);
        let seen: ReturnType<typeof agents> = [];
        await waitFor("a probe agent", () => (seen = agents()).length > 0, 20_000);
        const ids = `${u.uid}\t${u.uid}\t${u.uid}\t${u.uid}`;
        const gids = `${u.gid}\t${u.gid}\t${u.gid}\t${u.gid}`;
        expect(seen.map((a) => [a.uid, a.gid])).toEqual(seen.map(() => [ids, gids]));
        await d.stop();
        await waitFor("the agent to end", () => agents().length === 0, 15_000);
      });

      it("a symlink at the old journal path: no root file written; the journal lives in /run/rootless-exporter", async () => {
        const old = join(runtimeDir, "rootless-exporter-probe.json");
        const victim = join(vault, "victim");
        // The user keeps a symlink there while probes run (bounded: 400 rounds of 50 ms), so that
        // a write after the probe's own cleanup would go through it.
        const [file = "", ...rest] = [
          ...asUser(u, {}),
          "sh",
          "-c",
          `i=0; while [ $i -lt 400 ]; do ln -sfn ${victim} ${old}; sleep 0.05; i=$((i+1)); done`,
        ];
        const planter = spawn(file, rest, { stdio: "ignore" });
        // The journal exists only while a probe has a forward or an agent out: look every 5 ms.
        const journal = `/run/rootless-exporter/probe-${u.uid}.json`;
        let seen: Stats | undefined;
        const look = setInterval(() => (seen ??= lstatSync(journal, { throwIfNoEntry: false })), 5);
        try {
          await waitFor("the symlink", () => lstatExists(old), 5000);
          const d = await exporter([...probeArgs, "--probe.bytes=16MiB"]);
          await waitForMetrics(
            d,
            (b) =>
              valueOf(b, `rootless_probe_success{user="${userName}",path="network"}`) !== undefined,
            40_000,
          );
          await d.stop();
        } finally {
          clearInterval(look);
          planter.kill("SIGKILL");
        }
        expect(readFileSync(victim, "utf8")).toBe("precious\n");
        const own = statSync("/run/rootless-exporter");
        expect([own.uid, own.mode & 0o777]).toEqual([0, 0o700]);
        // The journal was written there, root's own regular file, and removed after the probe.
        expect(seen?.isFile(), `${journal} never appeared during the probe`).toBe(true);
        expect([seen?.uid, (seen?.mode ?? 0) & 0o777]).toEqual([0, 0o600]);
        expect(lstatExists(journal)).toBe(false);
      });

      it("a pre-made journal steers no DELETE and no kill", async () => {
        // A process of the user that looks like a probe agent to /proc (node, the agent's path in
        // its argv): what the user's journal asks root to kill.
        const agentPath = join(dirname(builtMain), "probe-agent.js");
        const [file = "", ...rest] = [
          ...asUser(u, {}),
          process.execPath,
          "-e",
          "setTimeout(() => {}, 120000)",
          agentPath,
        ];
        const decoy: ChildProcess = spawn(file, rest, { stdio: "ignore" });
        try {
          await waitFor("the decoy to run node", () =>
            readFileSync(`/proc/${decoy.pid}/cmdline`, "utf8").includes(agentPath),
          );
          const forward = (id: number) => ({ stateDir: join(vault, "other-state"), id });
          // Where the old code kept its journal, made by the user...
          const planted = JSON.stringify({ forwards: [forward(7)], agents: [decoy.pid] });
          const old = join(runtimeDir, "rootless-exporter-probe.json");
          await asHostile("sh", "-c", `printf '%s' '${planted}' > ${old}`);
          // ...and a journal in the private dir naming another state dir, as if a bug had let one
          // in: checked against what discovery finds now, so nothing outside the user's state dir.
          mkdirSync("/run/rootless-exporter", { recursive: true, mode: 0o700 });
          const own = JSON.stringify({ forwards: [forward(8)], agents: [] });
          writeFileSync(`/run/rootless-exporter/probe-${u.uid}.json`, own, { mode: 0o600 });
          const d = await exporter([...probeArgs, "--probe.bytes=16MiB"]);
          await waitForMetrics(
            d,
            (b) => valueOf(b, `rootless_probe_success{user="${userName}",path="port"}`) === 1,
            40_000,
          );
          expect(requests).toEqual([]);
          expect(alive(decoy.pid ?? -1)).toBe(true);
        } finally {
          decoy.kill("SIGKILL");
        }
      });
    });
  },
);
