import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, startDaemon, waitForMetrics } from "../helpers/daemon.js";
import type { TestUser } from "../helpers/rootless-docker.js";
import {
  asHostile,
  hostileMissing,
  hostileUser,
  hostileUserName,
} from "../helpers/hostile-user.js";
import { alive, asUser, waitFor } from "../helpers/rootless-docker.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";

// issue 16, attacks 1 and 3 (paths a user names, and what a user can fill), by the real
// unprivileged rlx-hostile against a root exporter. Needs root and the user (scripts/test-all.sh).
const run = promisify(execFile);
const userName = hostileUserName;
const user = hostileUser;
const missing = hostileMissing;
const secretPid = "31337";

/** The slowest of /metrics and /healthz, scraped back to back for `ms`. */
async function slowestScrape(d: RunningDaemon, ms: number): Promise<number> {
  let slowest = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    for (const path of ["/metrics", "/healthz"]) {
      const t = performance.now();
      const res = await fetch(d.url(path), { signal: AbortSignal.timeout(5000) });
      await res.text();
      expect(res.status).toBe(200);
      slowest = Math.max(slowest, performance.now() - t);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return slowest;
}

describe.skipIf(requireOnCi(missing))(
  withReason(
    `paths and piles of ${userName} against a root exporter (needs root and the user)`,
    missing,
  ),
  () => {
    const u = user as TestUser;
    let vault: string; // root-only, 0700: a state dir and a data root the user would like read
    let bin: string; // the user's: a program named rootlesskit (a link to node) and its scripts
    let rootApi: Server;
    let rootRequests = 0;
    const daemons: RunningDaemon[] = [];
    const fakes: ChildProcess[] = [];
    const exporter = async () => {
      const d = await startDaemon([
        `--target.user=${userName}`,
        "--collect.interval=1s",
        "--log.level=debug",
      ]);
      daemons.push(d);
      return d;
    };
    /** A process of the user's that discovery takes for rootlesskit (its exe is named so). */
    const fakeRootlesskit = async (script: string, args: string[], wrapper: string[] = []) => {
      writeFileSync(join(bin, "fake.js"), script, { mode: 0o644 });
      const argv = [...wrapper, ...asUser(u, {}), join(bin, "rootlesskit"), join(bin, "fake.js")];
      const child = spawn(argv[0] ?? "", [...argv.slice(1), ...args], { stdio: "ignore" });
      fakes.push(child);
      await waitFor("the fake rootlesskit", () => existsSync(join(bin, "ready")), 20_000);
      return child;
    };
    const check = async (...extra: string[]) =>
      run(process.execPath, [builtMain, "check", `--target.user=${userName}`, ...extra], {
        timeout: 30_000,
      }).then(
        (r) => r.stdout + r.stderr,
        (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}`,
      );
    const finding = async (d: RunningDaemon, id: string) => {
      const all = (await (await fetch(d.url("/checks"))).json()) as {
        targets: { checks: { id: string; state: string; summary: string }[] }[];
      };
      return all.targets.flatMap((x) => x.checks).find((c) => c.id === id);
    };

    beforeAll(async () => {
      vault = mkdtempSync("/var/tmp/rootless-exporter-vault-");
      chmodSync(vault, 0o700);
      mkdirSync(join(vault, "d"), { mode: 0o700 });
      writeFileSync(join(vault, "d/child_pid"), secretPid, { mode: 0o600 });
      writeFileSync(join(vault, "d/lock"), "", { mode: 0o600 });
      mkdirSync(join(vault, "x/btrfs"), { recursive: true, mode: 0o700 });
      // Root's own service on a socket in the vault: it must never see a request.
      rootApi = createServer((_req, res) => {
        rootRequests++;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ apiVersion: "1.1.1", version: "ROOT-ONLY-9.9.9" }));
      });
      await new Promise<void>((resolve) => rootApi.listen(join(vault, "d/api.sock"), resolve));
      bin = mkdtempSync("/var/tmp/rootless-exporter-fakekit-");
      chownSync(bin, u.uid, u.gid);
      chmodSync(bin, 0o755);
      try {
        linkSync(process.execPath, join(bin, "rootlesskit"));
      } catch {
        copyFileSync(process.execPath, join(bin, "rootlesskit"));
        chmodSync(join(bin, "rootlesskit"), 0o755);
      }
    }, 60_000);
    let mounted: string | undefined;
    afterEach(async () => {
      for (const d of daemons.splice(0)) await d.stop();
      if (mounted) await run("umount", [mounted]);
      mounted = undefined;
      for (const f of fakes.splice(0)) if (f.pid && alive(f.pid)) f.kill("SIGKILL");
      rmSync(join(bin, "ready"), { force: true });
      await asHostile(
        "rm",
        "-rf",
        join(u.home, ".config/docker"),
        join(u.home, ".local/share/docker"),
      );
    }, 120_000);
    afterAll(() => {
      rootApi?.close();
      rmSync(vault, { recursive: true, force: true });
      rmSync(bin, { recursive: true, force: true });
    });

    const holder = (body = "") =>
      `${body}\nrequire("node:fs").writeFileSync(${JSON.stringify(join(bin, "ready"))}, "");\nsetInterval(() => {}, 1e6);\n`;

    it("a --state-dir in root's 0700 directory: no byte, no size, no request, no oracle", async () => {
      await fakeRootlesskit(holder(), [`--state-dir=${join(vault, "d")}`]);
      const d = await exporter();
      await waitForMetrics(d, (b) =>
        b.includes(`rootless_collector_user_success{collector="rootlesskit",user="${userName}"} 1`),
      );
      // Several cycles, so a request or read would have happened.
      await new Promise((r) => setTimeout(r, 3500));
      const pages = await Promise.all(
        ["/checks", "/", "/metrics"].map(async (p) => (await fetch(d.url(p))).text()),
      );
      const texts = [...pages, await check(), await check("--json"), d.logs.join("\n")];
      for (const text of texts) {
        expect(text).not.toContain(secretPid);
        expect(text).not.toContain("ROOT-ONLY");
        expect(text).not.toMatch(/\(\d+ bytes\)/);
      }
      expect(rootRequests).toBe(0);
      expect(pages[2]).not.toMatch(/rootless_rootlesskit_info\{/);
      const existing = await finding(d, "state_dir_stale");
      expect(existing).toMatchObject({ state: "unknown" });
      expect(existing?.summary).toMatch(/not a directory of the user's own/);

      // A name that is not there in the vault reads the same: no existence oracle.
      for (const f of fakes.splice(0)) if (f.pid) f.kill("SIGKILL");
      rmSync(join(bin, "ready"), { force: true });
      await fakeRootlesskit(holder(), [`--state-dir=${join(vault, "no-such-dir")}`]);
      await new Promise((r) => setTimeout(r, 3000));
      expect(await finding(d, "state_dir_stale")).toEqual(existing);
      expect(rootRequests).toBe(0);
    }, 90_000);

    it("a data-root in root's 0700 directory is not looked into", async () => {
      const config = join(u.home, ".config/docker");
      await asHostile("mkdir", "-p", config);
      const mine = join(u.home, "dr");
      await asHostile("mkdir", "-p", join(mine, "btrfs"));
      const say = (dataRoot: string) =>
        asHostile(
          "sh",
          "-c",
          `printf '%s' '{"data-root":"${dataRoot}"}' > ${join(config, "daemon.json")}`,
        );
      // The user's own data root: its btrfs directory is seen (the test can tell).
      await say(mine);
      const d = await exporter();
      const own = await waitForMetrics(d, (b) => b.includes(`${mine}/btrfs`), 15_000, "/checks");
      expect(own).toContain(`${mine}/btrfs`);
      await say(join(vault, "x"));
      const body = await waitForMetrics(
        d,
        (b) => b.includes(`${join(vault, "x")} holds none`) || b.includes(`${vault}/x/btrfs`),
        15_000,
        "/checks",
      );
      expect(body).not.toContain(`${vault}/x/btrfs`);
      for (const text of [await check(), d.logs.join("\n")])
        expect(text).not.toContain(`${vault}/x/btrfs`);
      await asHostile("rm", "-rf", mine);
    }, 90_000);

    it("a rootlesskit holding 19,900 fds (the hard limit here is 20,000): /metrics and /healthz under 100 ms", async () => {
      const opener = `const fs = require("node:fs"); const fds = []; for (let i = 0; i < 19900; i++) fds.push(fs.openSync("/dev/null", "r"));`;
      await fakeRootlesskit(holder(opener), []);
      const d = await exporter();
      await waitForMetrics(d, (b) => /rootless_rootlesskit_up\{user="[^"]+"\} 1/.test(b));
      expect(await slowestScrape(d, 6000)).toBeLessThan(100);
    }, 90_000);

    it("300,000 entries in ~/.local/share/docker: /metrics and /healthz under 100 ms", async () => {
      const dir = join(u.home, ".local/share/docker");
      await asHostile("mkdir", "-p", dir);
      // On a tmpfs of its own, so that making 300,000 names takes seconds, not minutes, of ext4.
      await run("mount", [
        "-t",
        "tmpfs",
        "-o",
        `size=256m,mode=0700,uid=${u.uid},gid=${u.gid}`,
        "tmpfs",
        dir,
      ]);
      mounted = dir;
      const filler = join(bin, "fill.js");
      writeFileSync(
        filler,
        `const fs = require("node:fs");\n` +
          `for (let i = 0; i < 300000; i++) fs.closeSync(fs.openSync(${JSON.stringify(dir)} + "/f" + i, "w"));\n`,
        { mode: 0o644 },
      );
      await asHostile(process.execPath, filler);
      const d = await exporter();
      await waitForMetrics(d, (b) => /rootless_collector_success\{collector="docker"\} 1/.test(b));
      expect(await slowestScrape(d, 6000)).toBeLessThan(100);
    }, 180_000);
  },
);
