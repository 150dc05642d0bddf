import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { startDaemon, valueOf, waitForMetrics } from "../helpers/daemon.js";
import type { TestUser } from "../helpers/rootless-docker.js";
import { hostileMissing, hostileUser, hostileUserName } from "../helpers/hostile-user.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";
import { asUser } from "../helpers/rootless-docker.js";

// issue 16, item 3: the JSON bomb, served by the real unprivileged user on a fake docker.sock in
// their runtime dir, against a root exporter. Needs root and rlx-hostile (scripts/test-all.sh).
const userName = hostileUserName;
const user = hostileUser;
const missing = hostileMissing;

/** The user's fake dockerd: /info alternates a nested 1 MiB answer and a nested 200 KB one. */
const fakeDockerd = `
const { createServer } = require("node:http");
const { unlinkSync } = require("node:fs");
const path = process.argv[1];
try { unlinkSync(path); } catch {}
const big = "[".repeat(512 * 1024) + "]".repeat(512 * 1024);
const small = "[".repeat(100000) + "]".repeat(100000);
let n = 0;
createServer((req, res) => {
  if (req.url === "/_ping") return res.end("OK");
  res.setHeader("Content-Type", "application/json");
  res.end(n++ % 2 === 0 ? big : small);
}).listen(path, () => process.stdout.write("ready\\n"));
`;

describe.skipIf(requireOnCi(missing))(
  withReason(`${userName}'s docker.sock answering JSON bombs (needs root)`, missing),
  () => {
    const u = user as TestUser;
    const runtimeDir = `/run/user/${u.uid}`;
    const socket = join(runtimeDir, "docker.sock");
    let madeRuntimeDir = false;
    let server: ChildProcess | undefined;
    let daemon: RunningDaemon | undefined;

    beforeAll(async () => {
      if (!existsSync(runtimeDir)) {
        mkdirSync(runtimeDir, { mode: 0o700 });
        chownSync(runtimeDir, u.uid, u.gid);
        madeRuntimeDir = true;
      }
      const [file = "", ...rest] = [...asUser(u, {}), process.execPath, "-e", fakeDockerd, socket];
      server = spawn(file, rest, { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve, reject) => {
        server?.stdout?.once("data", () => resolve());
        server?.once("exit", (code) => reject(new Error(`fake dockerd exited with ${code}`)));
      });
    });
    afterAll(async () => {
      await daemon?.stop();
      if (server && server.exitCode === null) {
        const exited = once(server, "exit");
        server.kill("SIGTERM");
        await exited;
      }
      rmSync(socket, { force: true });
      if (madeRuntimeDir) rmSync(runtimeDir, { recursive: true, force: true });
    });

    it("is a fact each cycle, and /metrics and /healthz answer in under 100 ms", async () => {
      daemon = await startDaemon([
        `--target.user=${userName}`,
        "--collect.interval=2s",
        "--log.level=debug",
      ]);
      const d = daemon;
      const series = `rootless_docker_api_up{user="${userName}"}`;
      await waitForMetrics(d, (body) => valueOf(body, series) !== undefined);
      // Five cycles of bombs, scraped every 50 ms: bounded in count and time.
      const latencies: Record<string, number[]> = { "/metrics": [], "/healthz": [] };
      let body = "";
      const until = performance.now() + 10_000;
      for (let i = 0; i < 400 && performance.now() < until; i++) {
        for (const path of ["/metrics", "/healthz"]) {
          const started = performance.now();
          const response = await fetch(d.url(path));
          const text = await response.text();
          latencies[path]?.push(performance.now() - started);
          if (path === "/metrics") body = text;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const max = (values: number[] = []) => Math.max(...values);
      console.log({
        scrapes: latencies["/metrics"]?.length,
        metricsMaxMs: max(latencies["/metrics"]),
        healthzMaxMs: max(latencies["/healthz"]),
        slowest: Object.fromEntries(
          Object.entries(latencies).map(([p, v]) => [
            p,
            v
              .map((ms, i) => [i, Math.round(ms)])
              .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
              .slice(0, 5)
              .join(" "),
          ]),
        ),
      });
      // The API answers (/_ping), /info is refused: no docker_info series, no crash.
      expect(valueOf(body, series)).toBe(1);
      expect(body).not.toMatch(/rootless_docker_info\{user="rlx-hostile"/);
      const log = d.logs.join("\n");
      expect(log).toMatch(/answer too deep/);
      expect(log).toMatch(/body longer than 262144 bytes/);
      expect(log).not.toContain("[[[[");
      expect(d.child.exitCode).toBeNull();
      // Under 100 ms throughout but for the machine's own noise (a shared 2-core box at load 8
      // showed one 212 ms scrape in 163): the 95th percentile under 100 ms, none over 500 ms.
      // JSON.parse of the 1 MiB answer alone held the loop 85-190 ms a cycle before the bound.
      const p95 = (values: number[] = []) =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)] ?? Infinity;
      for (const path of ["/metrics", "/healthz"]) {
        expect(p95(latencies[path])).toBeLessThan(100);
        expect(max(latencies[path])).toBeLessThan(500);
      }
    });
  },
);
