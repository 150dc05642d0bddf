import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Collector } from "../../src/collectors/collector.js";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { cycleInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { Target } from "../../src/host/target.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

// Item 6 of issue 16: a user whose docker.sock accepts and never answers (a hung or hostile
// dockerd) costs their docker run two rpc timeouts (/info, then /_ping). Here 9 such users and
// one whose dockerd answers at once, with the real docker collector on real unix sockets.
const missing = firstMissing([process.getuid?.() === 0, "needs root"]);
const canRun = missing === undefined;
const rpcTimeoutMs = 400;

describe.skipIf(requireOnCi(missing))(
  withReason("users with slow docker.sock beside a fast one (needs root)", missing),
  () => {
    let base: string;
    const servers: Server[] = [];
    const held: Socket[] = [];
    const user = (uid: number, name: string): Target => ({
      name,
      uid,
      gid: uid,
      home: join(base, name, "home"),
      groups: [uid],
      runtimeDir: join(base, name, "run"),
    });
    const slow = Array.from({ length: 9 }, (_, i) => `slow${i}`);
    let targets: Target[] = [];

    beforeAll(async () => {
      base = mkdtempSync(join(tmpdir(), "rootless-exporter-slow-"));
      chmodSync(base, 0o755);
      targets = [...slow, "fast"].map((name, i) => user(61000 + i, name));
      for (const target of targets) {
        // Root's directories on the way are open to the user, as on a host (host/user-files).
        mkdirSync(join(base, target.name), { mode: 0o755 });
        mkdirSync(target.home, { mode: 0o700 });
        mkdirSync(target.runtimeDir, { mode: 0o700 });
        lchownSync(target.home, target.uid, target.gid);
        lchownSync(target.runtimeDir, target.uid, target.gid);
        const answers = target.name === "fast";
        const server = createServer((socket) => {
          socket.on("error", () => undefined);
          if (!answers) return void held.push(socket);
          socket.once("data", () =>
            socket.end('HTTP/1.0 200 OK\r\nContent-Length: 27\r\n\r\n{"ServerVersion":"24.0.7"}\n'),
          );
        });
        const path = join(target.runtimeDir, "docker.sock");
        await new Promise<void>((resolve) => server.listen(path, resolve));
        lchownSync(path, target.uid, target.gid);
        servers.push(server);
      }
    });
    afterAll(() => {
      for (const socket of held) socket.destroy();
      for (const server of servers) server.close();
      rmSync(base, { recursive: true, force: true });
    });

    it("the fast user's facts come in their own time, whatever the queue order", async () => {
      // The fast user last in the queue: behind nine hung users and eight workers.
      let fastAt: number | undefined;
      const started = performance.now();
      const onChange = (): void => {
        if (fastAt !== undefined) return;
        const view = scheduler.targetViews().find((v) => v.target.name === "fast");
        if (view?.facts.docker) fastAt = performance.now() - started;
      };
      const scheduler = new Scheduler({
        collectors: { docker: dockerCollector },
        settings: [{ name: "docker", enabled: true, intervalSeconds: 15 }],
        roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
        targets: { wants: () => false, resolve: async () => targets },
        host: new HostState(),
        timeoutMs: 5000,
        rpcTimeoutMs,
        collectorOptions: {},
        env: {},
        log: pino({ level: "silent" }),
        trigger: () => ({ stop: () => undefined }),
        onChange,
      });
      await scheduler.runAll();
      const total = performance.now() - started;
      const views = scheduler.targetViews();
      const fast = views.find((v) => v.target.name === "fast")?.facts.docker as
        { apiUp: boolean; info?: { version?: string } } | undefined;
      expect(fast).toMatchObject({ apiUp: true, info: { version: "24.0.7" } });
      for (const name of slow)
        expect(views.find((v) => v.target.name === name)?.facts.docker).toMatchObject({
          apiUp: false,
        });
      console.log({ fastAtMs: fastAt, cycleMs: total });
      // Before: the fast user waited for a worker, 2 x 400 ms behind the hung users.
      expect(fastAt).toBeLessThan(rpcTimeoutMs);
      await scheduler.stop();
    });
  },
);

describe("users left running", () => {
  it("are handed off after 100 ms, at most 64 at once beside the 8 workers", async () => {
    vi.useFakeTimers();
    try {
      let running = 0;
      let most = 0;
      const hung: Collector<unknown> = {
        name: "hung",
        scope: "user",
        description: "a run that waits 3 s on a socket",
        defaultEnabled: true,
        defaultIntervalSeconds: 15,
        collect: async () => {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 3000));
          running--;
          return {};
        },
      };
      const targets = Array.from({ length: 200 }, (_, i) => ({
        name: `u${i}`,
        uid: 62000 + i,
        gid: 62000 + i,
        home: `/home/u${i}`,
        groups: [62000 + i],
        runtimeDir: `/run/user/${62000 + i}`,
      }));
      const scheduler = new Scheduler({
        collectors: { hung },
        settings: [{ name: "hung", enabled: true, intervalSeconds: 15 }],
        roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
        targets: { wants: () => false, resolve: async () => targets },
        host: new HostState(),
        timeoutMs: 10_000,
        rpcTimeoutMs: 1000,
        collectorOptions: {},
        env: {},
        log: pino({ level: "silent" }),
        trigger: () => ({ stop: () => undefined }),
      });
      let done = false;
      void scheduler.runAll().then(() => (done = true));
      await vi.advanceTimersByTimeAsync(1000);
      // Before: 8, one per worker, and the other 192 users waited 3 s per round of 8.
      expect(most).toBeGreaterThan(64);
      expect(most).toBeLessThanOrEqual(64 + 8);
      await vi.advanceTimersByTimeAsync(3 * 3000);
      expect(done).toBe(true);
      expect(scheduler.userRuns().filter((r) => r.ok)).toHaveLength(200);
      // The collector's duration is its slowest user's run: the one place a slow user shows.
      expect(scheduler.collectorStates()[0]?.durationSeconds).toBeCloseTo(3, 1);
      await scheduler.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe.skipIf(!canRun)(withReason("the cycle's GET /v1/info (needs root)", missing), () => {
  it("is shared by a user's collectors, never handed from one user to another", async () => {
    const base = mkdtempSync(join(tmpdir(), "rootless-exporter-memo-"));
    chmodSync(base, 0o755);
    const dir = join(base, "state");
    mkdirSync(dir, { mode: 0o700 });
    lchownSync(dir, 4242, 4242);
    let requests = 0;
    const server = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.once("data", () => {
        requests++;
        socket.end('HTTP/1.0 200 OK\r\nContent-Length: 19\r\n\r\n{"version":"2.0.0"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(join(dir, "api.sock"), resolve));
    lchownSync(join(dir, "api.sock"), 4242, 4242);
    try {
      const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };
      const cycle = new Cycle(() => false);
      const owner = { timeoutMs: 1000, ownerUid: 4242 };
      expect(await cycleInfo(cycle, roots, dir, owner)).toEqual({
        ok: true,
        value: { version: "2.0.0" },
      });
      // Once a cycle for the owner's collectors.
      expect(cycleInfo(cycle, roots, dir, owner)).toBe(cycleInfo(cycle, roots, dir, owner));
      // Another user naming the same state dir gets their own verdict: not their socket.
      const other = await cycleInfo(cycle, roots, dir, { timeoutMs: 1000, ownerUid: 4243 });
      expect(other.ok).toBe(false);
      expect(requests).toBe(1);
    } finally {
      server.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});
