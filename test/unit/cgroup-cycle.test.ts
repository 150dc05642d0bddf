import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cgroupCollector } from "../../src/collectors/cgroup/cgroup.js";
import { lingerCollector, systemBus } from "../../src/collectors/linger/linger.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import type { Target } from "../../src/host/target.js";
import { collectorContext } from "../helpers/context.js";
import { FakeProcfs } from "../helpers/procfs.js";

const user = (uid: number): Target => ({
  name: `u${uid}`,
  uid,
  gid: uid,
  home: `/home/u${uid}`,
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
});

/*
 * The cgroup collector answers a user with no slice in the cycle's listing of user.slice, and no
 * system bus socket, from the cycle's shared answers alone (no promise a user): the same facts and
 * notes, in the same order, as the full path gives; a user with a slice still reads its files.
 */
describe("cgroup and linger: what a cycle's users share", () => {
  let procfs: FakeProcfs;
  const service = (uid: number) => `fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service`;

  beforeEach(() => {
    procfs = new FakeProcfs();
    const cgroup = join(procfs.roots.sysfs, "fs/cgroup");
    mkdirSync(join(procfs.roots.sysfs, service(1000)), { recursive: true });
    writeFileSync(join(cgroup, "cgroup.controllers"), "cpu io memory pids\n");
    writeFileSync(join(procfs.roots.sysfs, service(1000), "cgroup.controllers"), "memory pids\n");
    writeFileSync(
      join(procfs.roots.sysfs, service(1000), "cpu.pressure"),
      "some avg10=1.00 avg60=0.50 avg300=0.25 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    );
  });
  afterEach(() => procfs.cleanup());

  it("gives a user without a slice and without a bus the full path's facts and notes", async () => {
    const host = new HostState();
    const cycle = new Cycle(() => true);
    const run = async (uid: number) => {
      const notes: string[] = [];
      const ctx = collectorContext(procfs.roots, user(uid), {
        cycle,
        host,
        note: (m) => notes.push(m),
      });
      return { facts: await cgroupCollector.collect(ctx), notes };
    };
    const bus = `unix:path=${procfs.roots.rootfs}/run/dbus/system_bus_socket`;
    const missing = await systemBus(cycle, procfs.roots, {}).missing;
    expect(missing).toMatch(/^unix:path=.*system_bus_socket: /);
    const idle = await run(1001);
    const path = `/sys/${service(1001)}/cgroup.controllers`;
    expect(idle.facts).toEqual({ version: 2, versionSource: "files", delegationPath: path });
    expect(Object.keys(idle.facts)).toEqual(["version", "versionSource", "delegationPath"]);
    expect(idle.notes).toEqual([
      `systemd on ${bus} did not say what systemd-oomd watches: Error: ${missing}`,
      `${path}: /sys/${service(1001)} does not exist; delegation is unknown`,
    ]);
    // A user with a slice: its files read (the path the fast one must agree with).
    const live = await run(1000);
    expect(live.facts).toMatchObject({
      version: 2,
      delegated: ["memory", "pids"],
      delegationPath: `/sys/${service(1000)}/cgroup.controllers`,
      pressure: { cpu: { some: { avg10: 1 } } },
    });
    expect(live.notes).toEqual([
      `systemd on ${bus} did not say what systemd-oomd watches: Error: ${missing}`,
    ]);
    // Without user.slice's listing (a slice made for 1001 is seen by the next cycle, as before).
    mkdirSync(join(procfs.roots.sysfs, service(1001)), { recursive: true });
    writeFileSync(join(procfs.roots.sysfs, service(1001), "cgroup.controllers"), "pids\n");
    expect((await run(1001)).facts).toEqual(idle.facts);
    const next = collectorContext(procfs.roots, user(1001), { host });
    expect(await cgroupCollector.collect(next)).toMatchObject({ delegated: ["pids"] });
  });

  it("shares the bus's address and look between cgroup and linger, per roots and environment", async () => {
    const cycle = new Cycle(() => true);
    const first = systemBus(cycle, procfs.roots, {});
    expect(systemBus(cycle, procfs.roots, {}).address).toBe(first.address);
    expect(systemBus(cycle, procfs.roots, {}).missing).toBe(first.missing);
    // Another environment (none in the exporter) gets its own address, not the memo's.
    const other = systemBus(cycle, procfs.roots, { DBUS_SYSTEM_BUS_ADDRESS: "tcp:host=x" });
    expect(other.address).toBe("tcp:host=x");
    expect(await other.missing).toBeUndefined();
    const notes: string[] = [];
    const ctx = collectorContext(procfs.roots, user(1001), { cycle, note: (m) => notes.push(m) });
    const facts = await lingerCollector.collect(ctx);
    expect(facts).toEqual({ enabled: false, source: "file", logindError: await first.missing });
    expect(notes).toEqual([
      `logind on ${first.address} did not answer (${await first.missing}); reading /var/lib/systemd/linger`,
    ]);
  });
});
