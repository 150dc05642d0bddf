import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { networkCollector } from "../../src/collectors/network/network.js";
import {
  bootTimeOnce,
  rootlesskitCollector,
} from "../../src/collectors/rootlesskit/rootlesskit.js";
import { discovery } from "../../src/collectors/scans.js";
import { bootTime, readProcess, withArgv } from "../../src/host/proc.js";
import { parseProcStat, parseProcStatus } from "../../src/host/proc-parsers.js";
import { HostState, TargetState } from "../../src/collectors/state.js";
import { collectorContext } from "../helpers/context.js";
import { alice } from "../helpers/healthy-facts.js";
import { FakeProcfs } from "../helpers/procfs.js";

describe("parseProcStat", () => {
  it("counts fields from the last parenthesis: comm may hold spaces and parentheses", () => {
    const text = "4242 (a (b) c) S 1 4242 4242 0 -1 0 0 0 0 0 250 50 0 0 20 0 3 0 98765 0 0\n";
    expect(parseProcStat(text)).toEqual({
      pid: 4242,
      comm: "a (b) c",
      state: "S",
      ppid: 1,
      cpuSeconds: 3,
      startTicks: 98765,
    });
  });

  it.each([
    ["empty", ""],
    ["no parenthesis", "12 rootlesskit S 1"],
    ["cut short", "12 (x) S 1 2 3"],
    ["letters where numbers go", "12 (x) S one 1 1 0 -1 0 0 0 0 0 a b 0 0 20 0 1 0 5"],
  ])("rejects %s", (_name, text) => {
    expect(parseProcStat(text)).toBeUndefined();
  });

  it("never throws", () => {
    fc.assert(fc.property(fc.string(), (text) => void parseProcStat(text)));
  });
});

describe("parseProcStatus", () => {
  const status =
    "Name:\tslirp4netns\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\n" +
    "Gid:\t1000\t1000\t1000\t1000\nNSpid:\t5000\t1\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\n";

  it("reads the uids, the pid in each namespace and the RSS", () => {
    expect(parseProcStatus(status)).toEqual({
      uids: [1000, 1000, 1000, 1000],
      nspids: [5000, 1],
      rssBytes: 4321 * 1024,
    });
  });

  it("has no RSS for a kernel thread and no uids in garbage", () => {
    expect(parseProcStatus("Name:\tkworker\nUid:\t0\t0\t0\t0\nNSpid:\t7\n")).toEqual({
      uids: [0, 0, 0, 0],
      nspids: [7],
    });
    expect(parseProcStatus("Name:\tx\nXUid:\t5\n")).toBeUndefined();
    expect(parseProcStatus("")).toBeUndefined();
  });

  it("finds the first line too, and never throws", () => {
    expect(parseProcStatus("Uid:\t7\t7\t7\t7")?.uids).toEqual([7, 7, 7, 7]);
    fc.assert(fc.property(fc.string(), (text) => void parseProcStatus(text)));
  });
});

describe("process identity: what is read once and when it is read again", () => {
  let procfs: FakeProcfs;
  beforeEach(() => {
    procfs = new FakeProcfs();
  });
  afterEach(() => procfs.cleanup());

  const kit = {
    pid: 100,
    ppid: 1,
    comm: "rootlesskit",
    uid: 1000,
    exe: "/usr/bin/rootlesskit",
    argv: ["rootlesskit", "--net=slirp4netns", "--mtu=1500"],
    startTicks: 5000,
  };

  it("reads a process's arguments as they are at each look, never kept across looks", async () => {
    procfs.add(kit);
    const read = (argv = true) => readProcess(procfs.roots, 100, { argv });
    expect((await read())?.argv).toEqual(kit.argv);
    // The same pid and start time with other arguments (an exec of the same program, or argv
    // rewritten in memory): what cmdline says now.
    procfs.write("100/cmdline", "rootlesskit\0--mtu=9000\0");
    expect((await read())?.argv).toEqual(["rootlesskit", "--mtu=9000"]);
    // Another process under the reused pid (a later start time): read again.
    procfs.add({ ...kit, startTicks: 6000, argv: ["rootlesskit", "--mtu=65520"] });
    expect((await read())?.argv).toEqual(["rootlesskit", "--mtu=65520"]);
    // The same process after an exec (same start time, another exe): read again.
    procfs.add({ ...kit, startTicks: 6000, exe: "/usr/bin/sleep", argv: ["sleep", "1"] });
    const info = await read(false);
    expect(info?.argv).toEqual([]);
    expect(info && (await withArgv(procfs.roots, info)).argv).toEqual(["sleep", "1"]);
  });

  it("reads the boot time, once for the exporter's life through the host state", async () => {
    const host = new HostState();
    expect(await bootTime(procfs.roots)).toBe(1700000000);
    expect(await bootTimeOnce(host, procfs.roots)).toBe(1700000000);
    procfs.write("stat", "btime 1800000000\n");
    expect(await bootTime(procfs.roots)).toBe(1800000000);
    expect(await bootTimeOnce(host, procfs.roots)).toBe(1700000000);
  });
});

describe("discovery and the network driver on a process table that changes", () => {
  let procfs: FakeProcfs;
  const target = alice;
  // What the user's target state remembers outlives a cycle; each call is a new cycle.
  let state: TargetState;
  const ctx = () => collectorContext(procfs.roots, target, { state });
  const parent = {
    pid: 100,
    ppid: 1,
    comm: "rootlesskit",
    uid: 1000,
    exe: "/usr/bin/rootlesskit",
    argv: ["rootlesskit", "--net=slirp4netns", "--mtu=65520", "--state-dir=/run/user/1000/kit"],
    startTicks: 5000,
    children: [200, 150],
  };
  const child = { ...parent, pid: 200, ppid: 100, startTicks: 5001, children: [300] };
  const dockerd = {
    pid: 300,
    ppid: 200,
    comm: "dockerd",
    uid: 1000,
    exe: "/usr/bin/dockerd",
    argv: ["dockerd"],
    startTicks: 5002,
  };
  const slirp = {
    pid: 150,
    ppid: 100,
    comm: "slirp4netns",
    uid: 1000,
    exe: "/usr/bin/slirp4netns",
    argv: ["slirp4netns", "--mtu", "65520", "--configure", "200", "tap0"],
    startTicks: 5003,
    rssKiB: 3000,
  };

  beforeEach(() => {
    procfs = new FakeProcfs();
    state = new TargetState(undefined);
    for (const p of [parent, child, dockerd, slirp]) procfs.add(p);
    procfs.writeRoot("/run/user/1000/docker.pid", "300\n");
    procfs.writeRoot("/run/user/1000/kit/child_pid", "200");
    procfs.chownRoot("/run/user/1000", 1000);
  });
  afterEach(() => procfs.cleanup());

  it("follows docker.pid to dockerd, the child, the parent and its state dir", async () => {
    const found = await discovery(ctx());
    expect(found.pidFile.state).toBe("ok");
    expect([found.dockerd?.pid, found.child?.pid, found.parent?.pid]).toEqual([300, 200, 100]);
    expect(found.stateDir).toEqual({ path: "/run/user/1000/kit", source: "flag" });
    const kit = await rootlesskitCollector.collect(ctx());
    expect(kit).toMatchObject({ up: true, childPid: 200, stateDirStale: false });
  });

  it("sees the driver die, a new one start and a reused pid that is no driver", async () => {
    const first = await networkCollector.collect(ctx());
    expect(first).toMatchObject({ driver: "slirp4netns", driverUp: true, mtu: 65520 });
    expect(first.driverProcess).toEqual({ pid: 150, cpuSeconds: 2, rssBytes: 3000 * 1024 });

    procfs.remove(150);
    procfs.add({ ...parent, children: [200] });
    expect(await networkCollector.collect(ctx())).toMatchObject({ driverUp: false });

    procfs.add({ ...slirp, pid: 151, startTicks: 7000, argv: ["slirp4netns", "--mtu", "1500"] });
    procfs.add({ ...parent, children: [200, 151] });
    const again = await networkCollector.collect(ctx());
    expect(again).toMatchObject({ driverUp: true, mtu: 1500, driverProcess: { pid: 151 } });

    // pid 151 reused by another program of the user: not the driver any more.
    procfs.add({ ...slirp, pid: 151, startTicks: 8000, comm: "sleep", exe: "/usr/bin/sleep" });
    procfs.add({ ...parent, children: [200] });
    expect(await networkCollector.collect(ctx())).toMatchObject({ driverUp: false });
  });

  it("a child_pid naming a dead process marks the state dir stale", async () => {
    procfs.writeRoot("/run/user/1000/kit/child_pid", "4040");
    const kit = await rootlesskitCollector.collect(ctx());
    expect(kit).toMatchObject({ stateDirStale: true });
    expect(kit.staleReason).toMatch(/child_pid: no live process 4040/);
  });
});
