import {
  lchownSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { clientCollector } from "../../src/collectors/client/client.js";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import {
  fileIdentity,
  racyMs,
  runtimeNames,
  stateNames,
} from "../../src/collectors/live-inputs.js";
import { usualStateDir } from "../../src/collectors/scans.js";
import { networkCollector } from "../../src/collectors/network/network.js";
import { rootlesskitCollector } from "../../src/collectors/rootlesskit/rootlesskit.js";
import type { Target } from "../../src/host/target.js";
import type { NamesFound } from "../../src/host/user-files.js";
import { statUserNames } from "../../src/host/user-files.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";
import { CountedScheduler, ReuseUser, watchUser } from "../helpers/reuse-user.js";

describe("fileIdentity: git's racy guard", () => {
  const stats = { dev: 1, ino: 2, mode: 0o100644, uid: 7, size: 5, mtimeMs: 0, ctimeMs: 0 };
  const at = 1_000_000;
  it.each([
    ["mtime and ctime settled", { mtimeMs: at - racyMs, ctimeMs: at - racyMs }, true],
    ["ctime within the guard (a write just before the key)", { ctimeMs: at - 100 }, false],
    ["mtime within the guard", { mtimeMs: at - 1, ctimeMs: at - 5000 }, false],
    ["a forged mtime in the future", { mtimeMs: at + 60_000, ctimeMs: at - 5000 }, false],
    ["ctime in the future (a clock set back)", { ctimeMs: at + 1 }, false],
  ])("%s", (_, times, keyed) => {
    const key = fileIdentity({ ...stats, mtimeMs: at - 5000, ...times }, at, true);
    expect(key !== undefined).toBe(keyed);
  });
  it("takes a same-size rewrite in the same tick as racy, not as the same file", () => {
    // Same inode, size and times (one kernel tick): only the guard tells it apart.
    const tick = { ...stats, mtimeMs: at - 3, ctimeMs: at - 3 };
    expect(fileIdentity(tick, at, true)).toBeUndefined();
  });
  it("keys a directory read for its owner and mode by identity alone", () => {
    const dir = { ...stats, mode: 0o40700, mtimeMs: at, ctimeMs: at };
    expect(fileIdentity(dir, at, false)).toBe(JSON.stringify([1, 2, 0o40700, 7]));
    expect(fileIdentity({ ...dir, mode: 0o40755 }, at, false)).not.toBe(
      fileIdentity(dir, at, false),
    );
  });
});

// Issue 19: a live user's static inputs (real collectors, a tree and a procfs owned by a user who
// is not the exporter). Every change of one brings a full run and the new facts; live figures
// move every cycle while the static part is served again.
const missing = firstMissing([process.getuid?.() === 0, "needs root (files of another uid)"]);
const uid = 61_901;
const counted = {
  docker: dockerCollector,
  network: networkCollector,
  client: clientCollector,
  rootlesskit: rootlesskitCollector,
} as const;
type Name = keyof typeof counted;

describe.skipIf(requireOnCi(missing))(
  withReason("a live user's static and live parts (needs root)", missing),
  () => {
    const user = new ReuseUser("liver", uid);
    const runs = new CountedScheduler<Name>(counted);
    const { own, write, writeOwn } = user;
    const { cycle, facts, settle, none, all } = runs;
    let procfs: string;
    let target: Target;
    let run: string;
    let state: string;
    const netDev = (rx: number) =>
      write(
        join(procfs, "101", "net/dev"),
        `Inter-|\n face |\n  tap0: ${rx} 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n`,
      );
    /** A process of the user's: rootlesskit's parent and child, dockerd, slirp4netns. */
    const proc = (pid: number, ppid: number, comm: string, exe: string, argv: string[]) =>
      user.proc({ pid, ppid, comm, exe, argv, idMaps: true });
    const parent = (startTicks = 5000) =>
      user.proc({
        pid: 100,
        ppid: 1,
        comm: "rootlesskit",
        exe: "/usr/bin/rootlesskit",
        argv: [
          "rootlesskit",
          "--net=slirp4netns",
          "--mtu=65520",
          `--state-dir=${state}`,
          "dockerd",
        ],
        startTicks,
        children: [101, 103],
        idMaps: true,
      });
    /** rootlesskit's parent holds the state dir's lock. */
    const holdLock = (): void => user.holdLock(100, join(state, "lock"));

    watchUser(user, runs, () => {
      ({ target, procfs } = user);
      run = target.runtimeDir;
      state = join(run, "dockerd-rootless");
      parent();
      proc(101, 100, "exe", "/usr/bin/rootlesskit", ["rootlesskit"]);
      proc(102, 101, "dockerd", "/usr/sbin/dockerd", ["dockerd"]);
      proc(103, 100, "slirp4netns", "/usr/bin/slirp4netns", ["slirp4netns", "101", "tap0"]);
      netDev(1000);
      for (const dir of [target.home, run, state]) user.mkdirOwn(dir);
      writeOwn(join(run, "docker.pid"), "102\n");
      writeOwn(join(state, "child_pid"), "101");
      writeOwn(join(state, "lock"), "");
      holdLock();
    });

    it("finds the daemon, then serves the static parts while live figures move", async () => {
      await settle();
      expect(facts("rootlesskit")).toMatchObject({ up: true, parentPid: 100, childPid: 101 });
      expect(facts("network")).toMatchObject({ driver: "slirp4netns", mtu: 65520 });
      expect(facts("network")["interfaces"]).toEqual([
        expect.objectContaining({ device: "tap0", receiveBytes: 1000 }),
      ]);
      const before = facts("network");
      netDev(5000);
      expect(await cycle()).toEqual(none);
      expect(facts("network")["interfaces"]).toEqual([
        expect.objectContaining({ device: "tap0", receiveBytes: 5000 }),
      ]);
      expect(facts("network")).not.toBe(before);
      // Nothing moved: the same facts object (the renderer reuses the user's bytes).
      const same = facts("network");
      expect(await cycle()).toEqual(none);
      expect(facts("network")).toBe(same);
      expect(facts("rootlesskit")["stateDirStale"]).toBe(false);
    });

    it("asks rootlesskit's API every run once api.sock is there, the static part still reused", async () => {
      await settle();
      expect(facts("rootlesskit")).toMatchObject({ apiUp: false });
      let version = "2.0.0";
      const server = createServer((_, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ apiVersion: "1.1.1", version, stateDir: state }));
      });
      const socket = join(state, "api.sock");
      await new Promise<void>((resolve) => server.listen(socket, resolve));
      lchownSync(socket, uid, uid);
      try {
        expect(await cycle()).toEqual(none);
        expect(facts("rootlesskit")).toMatchObject({ apiUp: true, info: { version: "2.0.0" } });
        version = "2.1.0";
        expect(await cycle()).toEqual(none);
        expect(facts("rootlesskit")).toMatchObject({ info: { version: "2.1.0" } });
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      rmSync(socket, { force: true });
      expect(await cycle()).toEqual(none);
      expect(facts("rootlesskit")).toMatchObject({ apiUp: false });
    });

    it("sees child_pid rewritten in place, same size, with its mtime put back", async () => {
      await settle();
      const file = join(state, "child_pid");
      const { mtime } = statSync(file);
      writeFileSync(file, "999"); // a dead pid, same length
      utimesSync(file, mtime, mtime);
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: true });
      writeFileSync(file, "101");
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: false });
    });

    it("gives no key to a file changed within the racy guard: every cycle reads it", async () => {
      await settle();
      vi.useRealTimers(); // child_pid's ctime is now: within racyMs of every key
      const file = join(state, "child_pid");
      writeFileSync(file, "999");
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: true });
      writeFileSync(file, "101"); // same size, likely the same second
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: false });
      expect((await cycle()).rootlesskit).toBe(1);
    });

    it("sees docker.pid replaced by rename and swapped for a symlink", async () => {
      await settle();
      const file = join(run, "docker.pid");
      writeOwn(`${file}.new`, "103\n"); // slirp4netns: not a dockerd
      renameSync(`${file}.new`, file);
      expect(await cycle()).toMatchObject({ docker: 1, rootlesskit: 1, client: 1, network: 1 });
      expect(facts("docker")).toMatchObject({ pidFile: "unexpected_program" });
      rmSync(file);
      symlinkSync("/etc/hostname", file);
      lchownSync(file, uid, uid);
      expect((await cycle()).docker).toBe(1);
      expect(facts("docker")).toMatchObject({ pidFile: "unsafe" });
      rmSync(file);
      writeOwn(file, "102\n");
      await settle();
      expect(facts("docker")).toMatchObject({ pidFile: "ok", dockerdPid: 102 });
    });

    it("sees a live user's config.json created, rewritten with its times put back, removed", async () => {
      await settle();
      const dir = join(target.home, ".docker");
      mkdirSync(dir, { mode: 0o700 });
      own(dir);
      const file = join(dir, "config.json");
      writeOwn(file, '{"currentContext":"aaaa"}');
      expect((await cycle()).client).toBe(1);
      expect(facts("client")["context"]).toMatchObject({ state: "not_found", name: "aaaa" });
      await settle();
      const { atime, mtime } = statSync(file);
      writeFileSync(file, '{"currentContext":"bbbb"}'); // same size
      utimesSync(file, atime, mtime);
      expect((await cycle()).client).toBe(1);
      expect(facts("client")["context"]).toMatchObject({ state: "not_found", name: "bbbb" });
      rmSync(dir, { recursive: true });
      expect((await cycle()).client).toBe(1);
      expect(facts("client")["context"]).toMatchObject({ state: "default" });
    });

    it("sees rootlesskit restarted under the same pid, another start time", async () => {
      await settle();
      const before = facts("rootlesskit")["startTimeSeconds"] as number;
      parent(9000);
      expect(await cycle()).toEqual(all);
      expect(facts("rootlesskit")["startTimeSeconds"]).toBe(before + 40);
      expect(facts("rootlesskit")["restarts"]).toBe(1);
    });

    // issue 19: the usual state dir is looked at within the runtime dir's walk (scans.ts).
    it("looks at the state dir within the runtime dir's walk as a walk to it does", async () => {
      await settle();
      const strip = (found: NamesFound | undefined) =>
        found?.ok
          ? {
              ino: found.dir.ino,
              entries: [...found.entries].map(([n, e]) => [n, e.ok ? e.stats.ino : e.state]),
            }
          : found;
      const look = () => statUserNames(run, uid, runtimeNames, undefined, usualStateDir);
      const walked = await statUserNames(state, uid, stateNames);
      const inWalk = await look();
      expect(walked.ok && inWalk.ok && inWalk.nested !== undefined).toBe(true);
      expect(strip(inWalk.ok ? inWalk.nested : undefined)).toEqual(strip(walked));
      // Not a directory of the user's: no look in the walk (the state dir is walked to, refused).
      lchownSync(state, 0, 0);
      try {
        const rootOwned = await look();
        expect(rootOwned.ok && rootOwned.nested).toBe(undefined);
        expect(await statUserNames(state, uid, stateNames)).toMatchObject({
          ok: false,
          state: "foreign_owner",
        });
      } finally {
        own(state);
      }
    });

    it("sees the state dir's lock replaced by rename: no longer the held one", async () => {
      await settle();
      const lock = join(state, "lock");
      writeOwn(`${lock}.new`, "");
      renameSync(`${lock}.new`, lock);
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: true });
      holdLock();
      await settle();
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: false });
    });

    it("sees the state dir replaced by another directory", async () => {
      await settle();
      const moved = `${state}.old`;
      renameSync(state, moved);
      mkdirSync(state, { mode: 0o700 });
      own(state);
      writeOwn(join(state, "child_pid"), "999");
      writeOwn(join(state, "lock"), "");
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")).toMatchObject({ stateDirStale: true });
      rmSync(moved, { recursive: true });
    });

    it("sees a symlink swapped in for the state dir", async () => {
      rmSync(state, { recursive: true });
      mkdirSync(state, { mode: 0o700 });
      own(state);
      writeOwn(join(state, "child_pid"), "101");
      writeOwn(join(state, "lock"), "");
      holdLock();
      await settle();
      const moved = `${state}.real`;
      renameSync(state, moved);
      symlinkSync(moved, state);
      lchownSync(state, uid, uid);
      expect((await cycle()).rootlesskit).toBe(1);
      expect(facts("rootlesskit")["stateDirRefused"]).toMatchObject({ state: "symlink" });
    });
  },
);
