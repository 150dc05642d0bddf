import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processes } from "../../src/collectors/scans.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { Targets } from "../../src/targets/targets.js";
import type { FakeProcfs } from "../helpers/procfs.js";
import { accountsHost } from "../helpers/accounts-host.js";

const asRoot = process.getuid?.() === 0;

describe("lastrev: a rootlesskit's runtime dir, attacked", () => {
  let procfs: FakeProcfs;
  const host = new HostState();
  const cycle = (targets: Targets) => new Cycle(targets.wants);

  beforeEach(() => {
    procfs = accountsHost();
  });
  afterEach(() => procfs.cleanup());

  /*
   * lastrev (hostile review of steadycpu's runtimeDirOf): the roster's runtime dir from a
   * rootlesskit's environment is never another user's, never through a symlink, never from a pid
   * reused by another user's process between the cycle's scan and the read, never from a
   * rootlesskit-named process of another uid; a zombie named rootlesskit gives the standard dir.
   */
  const kit = (over: Record<string, unknown> = {}) => ({
    pid: 700,
    ppid: 1,
    comm: "rootlesskit",
    uid: 1004,
    exe: "/usr/bin/rootlesskit",
    argv: ["rootlesskit"],
    startTicks: 10,
    ...over,
  });
  const dirs = async (owner: Record<string, number>) => {
    const { chownSync } = await import("node:fs");
    for (const [dir, uid] of Object.entries(owner)) {
      mkdirSync(join(procfs.roots.rootfs, dir), { recursive: true });
      chownSync(join(procfs.roots.rootfs, dir), uid, uid);
    }
  };
  const make = () =>
    Targets.create(procfs.roots, { users: [], exclude: [], minUid: undefined }, {}, 0);
  const dirOf = (found: readonly { name: string; runtimeDir: string }[], name = "kit") =>
    found.find((t) => t.name === name)?.runtimeDir;

  it.skipIf(!asRoot)(
    "a pid reused by another user's process after the scan: not read for kit",
    async () => {
      await dirs({ "home/kit/.run": 1004, "home/subonly/.run": 1001 });
      procfs.add(kit());
      procfs.write("700/environ", "XDG_RUNTIME_DIR=/home/kit/.run\0");
      const targets = await make();
      const first = cycle(targets);
      await processes(first, procfs.roots);
      // pid 700 is now a process of user 1001 (another start time) naming 1001's dir.
      procfs.add(kit({ uid: 1001, startTicks: 99 }));
      procfs.write("700/environ", "XDG_RUNTIME_DIR=/home/subonly/.run\0");
      const found = await targets.resolve(first, host);
      expect(dirOf(found)).toBe("/run/user/1004");
      expect(dirOf(found, "subonly")).toBe("/run/user/1001");
      // Next cycle: 700 is 1001's (a rootlesskit-named process of another uid): kit has none.
      const next = await targets.resolve(cycle(targets), host);
      expect(dirOf(next)).toBeUndefined(); // no longer watched: no process of kit's left
      expect(dirOf(next, "subonly")).toBe("/home/subonly/.run");
    },
  );

  it.skipIf(!asRoot)(
    "kit's rootlesskit naming another user's dir, root's, or a symlink: the standard dir",
    async () => {
      await dirs({ "home/subonly/.run": 1001, "home/kit": 1004 });
      const { symlinkSync } = await import("node:fs");
      symlinkSync("/home/subonly/.run", join(procfs.roots.rootfs, "home/kit/link"));
      procfs.add(kit());
      const targets = await make();
      for (const named of [
        "/home/subonly/.run",
        "/run/user/0",
        "/home/kit/link",
        "/home/kit/link/.",
      ]) {
        procfs.add(kit({ startTicks: 10 + named.length }));
        procfs.write("700/environ", `XDG_RUNTIME_DIR=${named}\0`);
        expect(dirOf(await targets.resolve(cycle(targets), host))).toBe("/run/user/1004");
      }
    },
  );

  it.skipIf(!asRoot)(
    "a zombie named rootlesskit, then the process execs: never another's dir",
    async () => {
      await dirs({ "home/kit/.run": 1004 });
      procfs.add(kit());
      // A zombie: its stat says Z and its environment reads empty.
      const stat = join(procfs.roots.procfs, "700/stat");
      const { readFileSync, writeFileSync } = await import("node:fs");
      writeFileSync(stat, readFileSync(stat, "utf8").replace(") S ", ") Z "));
      procfs.write("700/environ", "");
      const targets = await make();
      expect(dirOf(await targets.resolve(cycle(targets), host))).toBe("/run/user/1004");
      // The same pid and start time, its program exec'd with another environment: the value kept
      // for that process (as before), never read from elsewhere.
      procfs.add(kit());
      procfs.write("700/environ", "XDG_RUNTIME_DIR=/home/kit/.run\0");
      const after = dirOf(await targets.resolve(cycle(targets), host));
      expect(["/run/user/1004", "/home/kit/.run"]).toContain(after);
    },
  );
});
