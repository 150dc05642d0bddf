import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cgroupCollector } from "../../src/collectors/cgroup/cgroup.js";
import { lingerCollector } from "../../src/collectors/linger/linger.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import type { Target } from "../../src/host/target.js";
import { collectorContext } from "../helpers/context.js";
import { FakeProcfs } from "../helpers/procfs.js";

/*
 * lastrev (hostile review of steadycpu): cgroup's shortcut for a user with no slice and no system
 * bus must give exactly what the full path gives (facts, their keys' order, notes in order) on a
 * cgroup v2 tree, a v1 tree, no cgroup tree, an unlistable user.slice, and when a slice or the
 * bus socket appears mid-cycle; the cycle memos must not outlive their cycle nor answer another
 * environment. Only exported API: the same file runs on 8771e57 and on the merged tree.
 */

const user = (uid: number): Target => ({
  name: `u${uid}`,
  uid,
  gid: uid,
  home: `/home/u${uid}`,
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
});

const service = (uid: number) => `fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service`;

describe("lastrev: cgroup's shortcut and the cycle's bus memo", () => {
  let procfs: FakeProcfs;
  let cgroup: string;
  beforeEach(() => {
    procfs = new FakeProcfs();
    cgroup = join(procfs.roots.sysfs, "fs/cgroup");
  });
  afterEach(() => procfs.cleanup());

  const runner = (cycle: Cycle, host: HostState, env: Record<string, string> = {}) => {
    return async (uid: number) => {
      const notes: string[] = [];
      const ctx = collectorContext(procfs.roots, user(uid), {
        cycle,
        host,
        env,
        self: false,
        note: (m) => notes.push(m),
      });
      const facts = await cgroupCollector.collect(ctx);
      return { facts, keys: Object.keys(facts), notes };
    };
  };
  const bus = () => `unix:path=${procfs.roots.rootfs}/run/dbus/system_bus_socket`;
  const path = (uid: number) => `/sys/${service(uid)}/cgroup.controllers`;
  const oomdNote = (missing: RegExp) => expect.stringMatching(missing);

  it("v1 tree (no cgroup.controllers, a memory hierarchy): version 1, the same notes", async () => {
    mkdirSync(join(cgroup, "memory"), { recursive: true });
    const run = runner(new Cycle(() => true), new HostState());
    const got = await run(1001);
    expect(got.facts).toEqual({ version: 1, versionSource: "files", delegationPath: path(1001) });
    expect(got.keys).toEqual(["version", "versionSource", "delegationPath"]);
    expect(got.notes).toEqual([
      oomdNote(/did not say what systemd-oomd watches: Error: unix:path=/),
      `${path(1001)}: /sys/${service(1001)} does not exist; delegation is unknown`,
    ]);
    expect(got.notes[0]).toContain(bus());
  });

  it("no cgroup tree at all: no version, its note between the bus's and the delegation's", async () => {
    const run = runner(new Cycle(() => true), new HostState());
    const got = await run(1001);
    expect(got.facts).toEqual({ delegationPath: path(1001) });
    expect(got.notes).toEqual([
      oomdNote(/did not say what systemd-oomd watches: Error: /),
      `${procfs.roots.sysfs}/fs/cgroup is missing or not a cgroup filesystem`,
      `${path(1001)}: /sys/${service(1001)} does not exist; delegation is unknown`,
    ]);
  });

  it("user.slice there but not a directory (unlistable): the same answer by the full path", async () => {
    mkdirSync(cgroup, { recursive: true });
    writeFileSync(join(cgroup, "cgroup.controllers"), "cpu memory\n");
    writeFileSync(join(cgroup, "user.slice"), "not a dir\n");
    const run = runner(new Cycle(() => true), new HostState());
    const got = await run(1001);
    expect(got.facts).toEqual({ version: 2, versionSource: "files", delegationPath: path(1001) });
    expect(got.notes[0]).toMatch(/systemd-oomd watches: Error: /);
    expect(got.notes[1]).toMatch(
      /^\/sys\/fs\/cgroup\/user\.slice\/user-1001\.slice.*delegation is unknown$/,
    );
    expect(got.notes).toHaveLength(2);
  });

  it("a slice or a bus socket appearing mid-cycle is seen by the next cycle, never by a later one only", async () => {
    mkdirSync(join(cgroup, "user.slice"), { recursive: true });
    writeFileSync(join(cgroup, "cgroup.controllers"), "cpu memory\n");
    const host = new HostState();
    const first = runner(new Cycle(() => true), host);
    const before = await first(1001);
    expect(before.facts).not.toHaveProperty("delegated");
    mkdirSync(join(procfs.roots.sysfs, service(1001)), { recursive: true });
    writeFileSync(join(procfs.roots.sysfs, service(1001), "cgroup.controllers"), "pids\n");
    // Same cycle: the cycle's listing (as before the change).
    expect((await first(1001)).facts).toEqual(before.facts);
    // Next cycle: the slice's files read, nothing of the last cycle kept.
    const next = await runner(new Cycle(() => true), host)(1001);
    expect(next.facts).toMatchObject({ version: 2, delegated: ["pids"] });
    expect(next.notes).toEqual([oomdNote(/systemd-oomd watches: Error: /)]);
  });

  it("another environment's bus in the same cycle is its own, for cgroup and linger alike", async () => {
    mkdirSync(join(cgroup, "user.slice"), { recursive: true });
    writeFileSync(join(cgroup, "cgroup.controllers"), "cpu memory\n");
    const cycle = new Cycle(() => true);
    const host = new HostState();
    const missingBus = await runner(cycle, host)(1001);
    expect(missingBus.notes[0]).toContain(bus());
    // A second environment naming another (missing) socket: not the memo's address.
    const other = `unix:path=${procfs.roots.rootfs}/elsewhere/bus`;
    const env = { DBUS_SYSTEM_BUS_ADDRESS: other };
    const got = await runner(cycle, host, env)(1002);
    expect(got.notes[0]).toContain(`systemd on ${other} did not say`);
    expect(got.notes[0]).toContain(`Error: ${other}: `);
    const notes: string[] = [];
    const ctx = collectorContext(procfs.roots, user(1002), {
      cycle,
      env,
      host,
      note: (m) => notes.push(m),
    });
    const linger = await lingerCollector.collect(ctx);
    expect(linger.logindError).toContain(other);
  });

  it("removing the cgroup tree between cycles: the next cycle says so (no version kept)", async () => {
    mkdirSync(join(cgroup, "user.slice"), { recursive: true });
    writeFileSync(join(cgroup, "cgroup.controllers"), "cpu memory\n");
    const host = new HostState();
    expect((await runner(new Cycle(() => true), host)(1001)).facts).toHaveProperty("version", 2);
    rmSync(cgroup, { recursive: true, force: true });
    const after = await runner(new Cycle(() => true), host)(1001);
    expect(after.facts).toEqual({ delegationPath: path(1001) });
  });
});
