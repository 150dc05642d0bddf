import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { parsePressure, parseSelinuxEnforce } from "../../src/host/kernel-parsers.js";
import { parseMountinfo, rootPropagation } from "../../src/host/proc-files.js";
import { countInotify } from "../../src/host/inotify.js";
import { readRootMount, readSelinuxMode } from "../../src/collectors/kernel/limits.js";
import {
  inotifyInstances,
  maxUserNamespacesLow,
  rootPropagation as rootPropagationCheck,
  selinuxMode,
} from "../../src/collectors/kernel/limit-checks.js";
import { cgroupCollector } from "../../src/collectors/cgroup/cgroup.js";
import { kernelCollector } from "../../src/collectors/kernel/kernel.js";
import { Cycle } from "../../src/collectors/state.js";
import { FakeProcfs } from "../helpers/procfs.js";
import { collectorContext } from "../helpers/context.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";
import type { KernelFacts } from "../../src/collectors/kernel/kernel.js";

const live = new AbortController().signal;
const trees: FakeProcfs[] = [];
const tree = () => {
  const t = new FakeProcfs();
  trees.push(t);
  return t;
};
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});

describe("PSI lines", () => {
  it.each([
    [
      "some avg10=0.22 avg60=0.17 avg300=1.11 total=58761459\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      {
        some: { avg10: 0.22, avg60: 0.17, avg300: 1.11, totalMicroseconds: 58761459 },
        full: { avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: 0 },
      },
    ],
    // cpu.pressure before kernel 5.13 has no full line.
    [
      "some avg10=100.00 avg60=12.50 avg300=3.00 total=18446744073709",
      { some: { avg10: 100, avg60: 12.5, avg300: 3, totalMicroseconds: 18446744073709 } },
    ],
    ["some avg10=0.22 avg60=0.17 total=5\n", undefined],
    ["some avg10=0.22 avg60=0.17 avg300=1.11 total=-5\n", undefined],
    ["half avg10=0.22 avg60=0.17 avg300=1.11 total=5\n", undefined],
    ["", undefined],
  ])("parsePressure(%j)", (text, expected) => expect(parsePressure(text)).toEqual(expected));

  it("never throws and never returns a negative or non-finite total", () =>
    fc.assert(
      fc.property(fc.string(), (text) => {
        const parsed = parsePressure(text);
        for (const line of [parsed?.some, parsed?.full])
          if (line) expect(Number.isFinite(line.totalMicroseconds)).toBe(true);
      }),
    ));
});

describe("SELinux enforce", () => {
  it.each([
    ["1\n", "enforcing"],
    ["0", "permissive"],
    ["2", undefined],
    ["", undefined],
    ["enforcing", undefined],
  ])("parseSelinuxEnforce(%j)", (text, expected) =>
    expect(parseSelinuxEnforce(text)).toBe(expected),
  );

  it("reads enforcing, permissive, and no selinuxfs as disabled", async () => {
    const t = tree();
    expect(await readSelinuxMode(t.roots)).toBe("disabled");
    mkdirSync(join(t.roots.sysfs, "fs/selinux"), { recursive: true });
    writeFileSync(join(t.roots.sysfs, "fs/selinux/enforce"), "1");
    expect(await readSelinuxMode(t.roots)).toBe("enforcing");
    writeFileSync(join(t.roots.sysfs, "fs/selinux/enforce"), "0");
    expect(await readSelinuxMode(t.roots)).toBe("permissive");
    writeFileSync(join(t.roots.sysfs, "fs/selinux/enforce"), "garbage");
    expect(await readSelinuxMode(t.roots)).toBeUndefined();
  });
});

describe("propagation of /", () => {
  const line = (point: string, optional: string) =>
    `27 1 254:0 / ${point} rw,relatime ${optional}${optional ? " " : ""}- ext4 /dev/vda rw`;
  it.each([
    [line("/", "shared:1"), { shared: true, optional: "shared:1" }],
    [line("/", "master:363"), { shared: false, optional: "master:363" }],
    [line("/", ""), { shared: false, optional: "" }],
    [line("/", "shared:5 master:1"), { shared: true, optional: "shared:5 master:1" }],
    [line("/home", "shared:1"), undefined],
    // A later mount on / hides the first: the last one is what processes see.
    [`${line("/", "shared:1")}\n${line("/", "master:2")}`, { shared: false, optional: "master:2" }],
    ["garbage", undefined],
  ])("rootPropagation(%j)", (text, expected) =>
    expect(rootPropagation(parseMountinfo(text))).toEqual(expected),
  );

  it("reads init's table, else the exporter's own", async () => {
    const t = tree();
    expect(await readRootMount(t.roots)).toBeUndefined();
    mkdirSync(join(t.roots.procfs, "self"));
    t.write("self/mountinfo", `${line("/", "")}\n`);
    expect(await readRootMount(t.roots)).toEqual({
      shared: false,
      optional: "",
      source: "/proc/self/mountinfo",
    });
    mkdirSync(join(t.roots.procfs, "1"));
    t.write("1/mountinfo", `${line("/", "shared:1")}\n`);
    expect(await readRootMount(t.roots)).toEqual({
      shared: true,
      optional: "shared:1",
      source: "/proc/1/mountinfo",
    });
  });
});

describe("inotify instances", () => {
  const proc = (pid: number, fds: string[]) => ({
    pid,
    ppid: 1,
    comm: `p${pid}`,
    uid: process.getuid?.() ?? 1000,
    exe: "/usr/bin/true",
    argv: ["true"],
    startTicks: pid,
    fds,
  });
  const inotify = "anon_inode:inotify";

  it("counts inotify descriptors of the given processes only", async () => {
    const t = tree();
    t.add(proc(10, [inotify, "/dev/null", inotify]));
    t.add(proc(11, ["anon_inode:[eventpoll]", inotify]));
    t.add(proc(12, [inotify, inotify, inotify]));
    expect(await countInotify(t.roots, [10, 11, 99], live)).toEqual({
      instances: 3,
      processes: 2,
      descriptors: 5,
      unreadable: 0,
      complete: true,
    });
  });

  it("lists a process's descriptors past one batch (the event loop let in between) in full", async () => {
    const t = tree();
    t.add(
      proc(
        10,
        Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? inotify : "/dev/null")),
      ),
    );
    expect(await countInotify(t.roots, [10], live)).toEqual({
      instances: 300,
      processes: 1,
      descriptors: 600,
      unreadable: 0,
      complete: true,
    });
  });

  // Root reads every fd directory: a refusal is seen only by another user.
  it.skipIf(process.getuid?.() === 0)(
    "leaves out a process whose descriptors it may not list, and says how many",
    async () => {
      const t = tree();
      t.add(proc(10, [inotify]));
      t.add(proc(11, [inotify, inotify]));
      chmodSync(join(t.roots.procfs, "11", "fd"), 0);
      try {
        expect(await countInotify(t.roots, [10, 11], live)).toMatchObject({
          instances: 1,
          unreadable: 1,
          complete: true,
        });
      } finally {
        chmodSync(join(t.roots.procfs, "11", "fd"), 0o755);
      }
    },
  );

  // A fixture directory lists in no set order: a per-process cut keeps any 2 of the 3 fds.
  it.each([
    [{ maxProcesses: 1, maxDescriptorsPerProcess: 100, maxDescriptors: 100 }, [2, 2], 3],
    [{ maxProcesses: 10, maxDescriptorsPerProcess: 2, maxDescriptors: 100 }, [2, 3], 3],
    [{ maxProcesses: 10, maxDescriptorsPerProcess: 100, maxDescriptors: 3 }, [2, 2], 3],
  ])("stops at its bounds %j and says so", async (bounds, [low, high], descriptors) => {
    const t = tree();
    t.add(proc(10, [inotify, "/dev/null", inotify]));
    t.add(proc(11, [inotify]));
    const count = await countInotify(t.roots, [10, 11], live, bounds);
    expect(count.complete).toBe(false);
    expect(count.descriptors).toBe(descriptors);
    expect(count.instances).toBeGreaterThanOrEqual(low ?? 0);
    expect(count.instances).toBeLessThanOrEqual(high ?? 0);
  });

  it("stops when the run is aborted", async () => {
    const t = tree();
    t.add(proc(10, [inotify]));
    const aborted = AbortSignal.abort();
    expect(await countInotify(t.roots, [10], aborted)).toMatchObject({
      complete: false,
      instances: 0,
    });
  });

  it("the kernel collector counts each watched user's processes from the cycle's scan", async () => {
    const t = tree();
    t.add(proc(10, [inotify, inotify]));
    t.add(proc(11, ["/dev/null"]));
    const target = { ...alice, uid: process.getuid?.() ?? 1000 };
    const facts = await kernelCollector.collect(collectorContext(t.roots, target));
    expect(facts.inotify?.[target.uid]).toMatchObject({ instances: 2, complete: true });
  });
});

describe("PSI of user@UID.service", () => {
  const service = "fs/cgroup/user.slice/user-1000.slice/user@1000.service";
  const psi = "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\n";
  const setUp = (version: 1 | 2) => {
    const t = tree();
    mkdirSync(join(t.roots.sysfs, service), { recursive: true });
    if (version === 2) writeFileSync(join(t.roots.sysfs, "fs/cgroup/cgroup.controllers"), "cpu");
    else mkdirSync(join(t.roots.sysfs, "fs/cgroup/memory"));
    writeFileSync(join(t.roots.sysfs, service, "cgroup.controllers"), "cpu io memory pids");
    writeFileSync(join(t.roots.sysfs, service, "memory.pressure"), psi);
    writeFileSync(join(t.roots.sysfs, service, "io.pressure"), "garbage");
    return t;
  };

  it("reads the files that parse on cgroup v2", async () => {
    const t = setUp(2);
    const facts = await cgroupCollector.collect(collectorContext(t.roots, alice));
    expect(facts.pressure).toEqual({
      memory: { some: { avg10: 0, avg60: 0, avg300: 0, totalMicroseconds: 2_500_000 } },
    });
  });

  it("lists user.slice once a cycle: a user without a slice has no manager's cgroup, one with it is read", async () => {
    const t = setUp(2);
    const ctx = collectorContext(t.roots, alice);
    const bob = { ...alice, name: "bob", uid: 1001 };
    const [bobFacts, aliceFacts] = [
      await cgroupCollector.collect({ ...ctx, target: bob }),
      await cgroupCollector.collect(ctx),
    ];
    expect(bobFacts.delegated).toBeUndefined();
    expect(bobFacts.pressure).toBeUndefined();
    expect(aliceFacts.delegated).toEqual(["cpu", "io", "memory", "pids"]);
    // A slice made after the cycle's listing: this cycle says none, the next one reads it.
    const made = join(t.roots.sysfs, "fs/cgroup/user.slice/user-1001.slice/user@1001.service");
    mkdirSync(made, { recursive: true });
    writeFileSync(join(made, "cgroup.controllers"), "memory");
    expect((await cgroupCollector.collect({ ...ctx, target: bob })).delegated).toBeUndefined();
    const next = { ...ctx, target: bob, cycle: new Cycle(() => true) };
    expect((await cgroupCollector.collect(next)).delegated).toEqual(["memory"]);
  });

  it("finds no user's cgroup where there is no user.slice", async () => {
    const t = tree();
    mkdirSync(join(t.roots.sysfs, "fs/cgroup"), { recursive: true });
    writeFileSync(join(t.roots.sysfs, "fs/cgroup/cgroup.controllers"), "cpu");
    const facts = await cgroupCollector.collect(collectorContext(t.roots, alice));
    expect(facts).toMatchObject({ version: 2 });
    expect(facts.delegated).toBeUndefined();
  });

  it("leaves PSI out on cgroup v1", async () => {
    const t = setUp(1);
    const facts = await cgroupCollector.collect(collectorContext(t.roots, alice));
    expect(facts.version).toBe(1);
    expect(facts.pressure).toBeUndefined();
  });
});

describe("limit checks", () => {
  const kernelWith = (edit: Partial<KernelFacts>) => {
    const facts = healthyFacts();
    return { ...facts, kernel: { ...facts.kernel, ...edit } };
  };
  const sysctls = (values: Record<string, number>) => ({
    sysctls: { ...healthyFacts().kernel.sysctls, ...values },
  });
  const judge = (check: typeof selinuxMode, edit: Partial<KernelFacts>) =>
    check.evaluate({ target: alice, facts: kernelWith(edit) }).state;

  it.each([
    [{ "user.max_user_namespaces": 0 }, "pass"],
    [{ "user.max_user_namespaces": 512 }, "fail"],
    [{ "user.max_user_namespaces": 1023 }, "fail"],
    [{ "user.max_user_namespaces": 1024 }, "pass"],
  ])("max_user_namespaces_low %j: %s", (values, state) =>
    expect(judge(maxUserNamespacesLow, sysctls(values))).toBe(state),
  );

  it("max_user_namespaces_low says rootlesskit's words", () => {
    const verdict = maxUserNamespacesLow.evaluate({
      target: alice,
      facts: kernelWith(sysctls({ "user.max_user_namespaces": 100 })),
    });
    expect(verdict.summary.en).toContain("/proc/sys/user/max_user_namespaces=100 may be low");
    expect(verdict.remediation?.en).toContain("sysctl -w user.max_user_namespaces=28633");
    expect(verdict.remediation?.en).toContain("/etc/sysctl.d/");
  });

  it.each([
    [{ shared: true, optional: "shared:1", source: "/proc/1/mountinfo" }, "pass"],
    [{ shared: false, optional: "master:363", source: "/proc/1/mountinfo" }, "fail"],
    [{ shared: false, optional: "", source: "/proc/self/mountinfo" }, "fail"],
    [undefined, "unknown"],
  ])("root_propagation %j: %s", (rootMount, state) =>
    expect(judge(rootPropagationCheck, { rootMount })).toBe(state),
  );

  it.each([
    ["enforcing", "fail"],
    ["permissive", "pass"],
    ["disabled", "pass"],
    [undefined, "unknown"],
  ] as const)("selinux %s: %s", (selinux, state) =>
    expect(judge(selinuxMode, { selinux })).toBe(state),
  );

  const count = (instances: number, complete = true) => ({
    [alice.uid]: { instances, processes: 3, descriptors: 40, unreadable: 0, complete },
  });
  it.each([
    [count(10), "pass"],
    [count(101), "pass"],
    [count(102), "fail"],
    [count(10, false), "unknown"],
    [count(110, false), "fail"],
    [{}, "unknown"],
  ])("inotify_instances %j against 128: %s", (inotify, state) =>
    expect(
      judge(inotifyInstances, { inotify, ...sysctls({ "fs.inotify.max_user_instances": 128 }) }),
    ).toBe(state),
  );

  it("inotify_instances says how many processes it could not read", () => {
    const verdict = inotifyInstances.evaluate({
      target: alice,
      facts: kernelWith({
        inotify: {
          [alice.uid]: {
            instances: 3,
            processes: 9,
            descriptors: 90,
            unreadable: 2,
            complete: true,
          },
        },
      }),
    });
    expect(verdict.state).toBe("pass");
    expect(verdict.summary.en).toContain("(2 of their processes could not be read)");
  });

  it("inotify_instances proposes twice the count, at least 1024, now and at boot", () => {
    const verdict = inotifyInstances.evaluate({
      target: alice,
      facts: kernelWith({
        inotify: count(1500),
        ...sysctls({ "fs.inotify.max_user_instances": 1600 }),
      }),
    });
    expect(verdict.state).toBe("fail");
    expect(verdict.remediation?.en).toContain("sysctl -w fs.inotify.max_user_instances=4096");
  });
});
