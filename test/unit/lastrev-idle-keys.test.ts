import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clientCollector } from "../../src/collectors/client/client.js";
import type { UserCollector, UserContext } from "../../src/collectors/collector.js";
import { networkCollector } from "../../src/collectors/network/network.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import type { Target } from "../../src/host/target.js";
import { collectorContext } from "../helpers/context.js";
import { FakeProcfs } from "../helpers/procfs.js";

/*
 * lastrev (hostile review of steadycpu's idle keys without idleWith): an idle user's network and
 * client keys change (or go) when the user adds ~/.config/systemd/user/docker.service or
 * ~/.docker/config.json, a process, or a runtime dir; a symlink or a FIFO there is no "missing";
 * two users never share a key. Run as root (a home owned by its user).
 */
const asRoot = process.getuid?.() === 0;
const user = (uid: number): Target => ({
  name: `u${uid}`,
  uid,
  gid: uid,
  home: `/home/u${uid}`,
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
});

describe.skipIf(!asRoot)("lastrev: idle keys of network and client", () => {
  let procfs: FakeProcfs;
  const host = new HostState();
  beforeEach(() => {
    procfs = new FakeProcfs();
    for (const uid of [1001, 1002]) {
      const home = join(procfs.roots.rootfs, `home/u${uid}`);
      mkdirSync(home, { recursive: true });
      chownSync(home, uid, uid);
    }
    mkdirSync(join(procfs.roots.rootfs, "run/user"), { recursive: true });
    mkdirSync(join(procfs.roots.rootfs, "tmp"), { recursive: true });
  });
  afterEach(() => procfs.cleanup());

  const keys = async (uid: number) => {
    const cycle = new Cycle(() => true);
    const ctx = (): UserContext =>
      collectorContext(procfs.roots, user(uid), { cycle, host, self: false });
    const network = await (networkCollector as UserCollector<unknown>).inputs?.(ctx(), false);
    const client = await (clientCollector as UserCollector<unknown>).inputs?.(ctx(), false);
    return { network, client };
  };
  const own = (uid: number, path: string, make: (full: string) => void) => {
    const full = join(procfs.roots.rootfs, `home/u${uid}`, path);
    let dir = join(procfs.roots.rootfs, `home/u${uid}`);
    for (const name of path.split("/").slice(0, -1)) {
      dir = join(dir, name);
      mkdirSync(dir, { recursive: true });
      chownSync(dir, uid, uid);
    }
    make(full);
  };

  it("an idle user's keys are given, differ between users, and change when docker.service appears", async () => {
    const a = await keys(1001);
    const b = await keys(1002);
    expect(a.network).toEqual(expect.any(String));
    expect(a.client).toEqual(expect.any(String));
    expect(a.network).not.toBe(b.network);
    expect(a.client).not.toBe(b.client);
    expect(await keys(1001)).toEqual(a);
    own(1001, ".config/systemd/user/docker.service", (f) => writeFileSync(f, "[Service]\n"));
    const after = await keys(1001);
    expect(after.network).not.toBe(a.network);
    expect(after.client).not.toBe(a.client);
    expect(await keys(1002)).toEqual(b);
  });

  it("~/.docker/config.json appearing changes client's key; a symlink or a FIFO for the unit is no 'missing'", async () => {
    const a = await keys(1001);
    own(1001, ".docker/config.json", (f) => writeFileSync(f, "{}"));
    expect((await keys(1001)).client).not.toBe(a.client);
    const { symlinkSync } = await import("node:fs");
    own(1002, ".config/systemd/user/docker.service", (f) => symlinkSync("/etc/passwd", f));
    const b = await keys(1002);
    expect(b.network).not.toBe((await keys(1001)).network);
    const { execFileSync } = await import("node:child_process");
    const fifoHome = 1001;
    own(fifoHome, ".config/systemd/user/docker.service", (f) => execFileSync("mkfifo", [f]));
    const c = await keys(fifoHome);
    expect(c.network).not.toBe(a.network);
    expect(c.client).not.toBe(a.client);
  });

  it("a process of the user or a runtime dir: no idle key", async () => {
    const a = await keys(1001);
    procfs.add({
      pid: 900,
      ppid: 1,
      comm: "sleep",
      uid: 1001,
      exe: "/bin/sleep",
      argv: ["sleep"],
      startTicks: 5,
    });
    const b = await keys(1001);
    expect(b.network).not.toBe(a.network);
    expect(b.client).not.toBe(a.client);
    procfs.remove(900);
    mkdirSync(join(procfs.roots.rootfs, "run/user/1001"));
    chownSync(join(procfs.roots.rootfs, "run/user/1001"), 1001, 1001);
    const c = await keys(1001);
    expect(c.network).not.toBe(a.network);
    expect(c.client).not.toBe(a.client);
  });
});
