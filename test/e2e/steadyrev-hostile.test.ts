import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { startDaemon, waitForMetrics } from "../helpers/daemon.js";
import type { TestUser } from "../helpers/rootless-docker.js";
import { asUser } from "../helpers/rootless-docker.js";
import {
  asHostile,
  hostileMissing,
  hostileUser,
  hostileUserName,
} from "../helpers/hostile-user.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";

/*
 * Review "steadyrev": the state dir's name in the runtime dir, now opened O_PATH|O_NOFOLLOW and
 * fstat'ed once a cycle for every user (host/user-files.ts statUserNames), attacked by the real
 * unprivileged rlx-hostile against a root exporter: a FIFO a process of the user holds open for
 * writing, a symlink to root's 0700 directory, a directory of the user's whose child_pid is a
 * symlink to root's secret and whose lock is a FIFO, a socket. Each is planted between cycles of
 * one exporter: /metrics and /healthz answer in time, the secret is never read or echoed.
 */

const userName = hostileUserName;
const missing = hostileMissing;
const secret = `STEADYREV-SECRET-${process.pid % 10_000}`;

describe.skipIf(requireOnCi(missing))(
  withReason(`steadyrev: ${userName}'s state dir name against a root exporter`, missing),
  () => {
    const u = hostileUser as TestUser;
    const runtimeDir = `/run/user/${u.uid}`;
    const state = join(runtimeDir, "dockerd-rootless");
    let madeRuntimeDir = false;
    let vault: string;
    let daemon: RunningDaemon | undefined;
    const holders: ChildProcess[] = [];

    beforeAll(() => {
      if (!existsSync(runtimeDir)) {
        mkdirSync(runtimeDir, { mode: 0o700 });
        chownSync(runtimeDir, u.uid, u.gid);
        madeRuntimeDir = true;
      }
      vault = mkdtempSync("/var/tmp/rootless-exporter-steadyrev-vault-");
      chmodSync(vault, 0o700);
      writeFileSync(join(vault, "secret"), `${secret}\n`, { mode: 0o600 });
    });
    afterAll(async () => {
      await daemon?.stop();
      for (const h of holders) h.kill("SIGKILL");
      await asHostile("rm", "-rf", state);
      rmSync(vault, { recursive: true, force: true });
      if (madeRuntimeDir) rmSync(runtimeDir, { recursive: true, force: true });
    });

    /** The slowest of 10 back-to-back /metrics and /healthz, and every body and /checks read. */
    async function scrape(d: RunningDaemon): Promise<{ slowest: number; text: string }> {
      let slowest = 0;
      let text = "";
      for (let i = 0; i < 10; i++)
        for (const path of ["/metrics", "/healthz", "/checks"]) {
          const t = performance.now();
          const res = await fetch(d.url(path), { signal: AbortSignal.timeout(3000) });
          text += await res.text();
          expect(res.status, path).toBe(200);
          if (path !== "/checks") slowest = Math.max(slowest, performance.now() - t);
        }
      return { slowest, text };
    }

    it("answers in time and never reads or echoes root's secret, whatever the user puts at the state dir's name", async () => {
      daemon = await startDaemon([
        `--target.user=${userName}`,
        "--log.level=debug",
        "--collect.interval=1s",
      ]);
      await waitForMetrics(daemon, (b) =>
        /rootless_collector_success\{collector="docker"\}/.test(b),
      );
      const plants: [string, () => Promise<void>][] = [
        [
          "a FIFO held open for writing by the user",
          async () => {
            await asHostile("mkfifo", state);
            const [file = "", ...rest] = [
              ...asUser(u, {}),
              "sh",
              "-c",
              `exec 3<>"$0"; exec sleep 60`,
              state,
            ];
            holders.push(spawn(file, rest, { stdio: "ignore" }));
          },
        ],
        ["a symlink to root's 0700 directory", () => asHostile("ln", "-s", vault, state)],
        [
          "the user's directory, child_pid a symlink to the secret, lock a FIFO",
          async () => {
            await asHostile("mkdir", "-m", "700", state);
            await asHostile("ln", "-s", join(vault, "secret"), join(state, "child_pid"));
            await asHostile("mkfifo", join(state, "lock"));
            await asHostile("ln", "-s", join(vault, "secret"), join(state, "api.sock"));
          },
        ],
        [
          "a socket",
          async () => {
            const [file = "", ...rest] = [
              ...asUser(u, {}),
              process.execPath,
              "-e",
              `require("net").createServer().listen(process.argv[1])`,
              state,
            ];
            holders.push(spawn(file, rest, { stdio: "ignore" }));
            await new Promise((r) => setTimeout(r, 500));
          },
        ],
      ];
      for (const [what, plant] of plants) {
        await asHostile("rm", "-rf", state);
        await plant();
        // Two cycles of the exporter with it there.
        await new Promise((r) => setTimeout(r, 2500));
        const { slowest, text } = await scrape(daemon);
        expect(slowest, what).toBeLessThan(1000);
        expect(text, what).not.toContain(secret);
        expect(daemon.logs.join("\n"), what).not.toContain(secret);
        for (const h of holders.splice(0)) h.kill("SIGKILL");
      }
      const t = Date.now();
      expect(await daemon.stop()).toBe(0);
      daemon = undefined;
      expect(Date.now() - t).toBeLessThan(6000);
    }, 120_000);
  },
);
