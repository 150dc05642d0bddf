import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  hasFileCapability,
  parseKernelRelease,
  parseModulesBuiltin,
  parsePingGroupRange,
  parseProcModules,
  parseSysctlInteger,
} from "../../src/host/kernel-parsers.js";
import { pingAllowed } from "../../src/collectors/kernel/ping.js";
import { parseControllers } from "../../src/collectors/cgroup/cgroup.js";
import { parseGroup, parsePasswd } from "../../src/host/accounts.js";

describe("kernel parsers", () => {
  it.each([
    ["6.1.0-18-amd64", { major: 6, minor: 1 }],
    ["5.11.0\n", { major: 5, minor: 11 }],
    ["4.18.0-553.el8_10.x86_64", { major: 4, minor: 18 }],
    ["6.18.44-fc-v782", { major: 6, minor: 18 }],
    ["garbage", undefined],
    ["", undefined],
  ])("parseKernelRelease(%j)", (text, expected) =>
    expect(parseKernelRelease(text)).toEqual(expected),
  );

  it.each([
    ["63704\n", 63704],
    ["0", 0],
    ["-1\n", -1],
    ["1\t0", undefined],
    ["", undefined],
    ["abc", undefined],
  ])("parseSysctlInteger(%j)", (text, expected) => expect(parseSysctlInteger(text)).toBe(expected));

  it.each([
    ["1\t0\n", { low: 1, high: 0 }, [0, 1000], false],
    ["0\t2147483647\n", { low: 0, high: 2147483647 }, [1000], true],
    ["100 200", { low: 100, high: 200 }, [50, 150], true],
    ["100 200", { low: 100, high: 200 }, [50, 250], false],
    ["1", undefined, [], false],
  ])("ping_group_range %j", (text, range, groups, allowed) => {
    expect(parsePingGroupRange(text)).toEqual(range);
    if (range) expect(pingAllowed(range, groups)).toBe(allowed);
  });

  it("reads loaded and built-in module names, folding - into _", () => {
    const loaded = parseProcModules(
      "ip_tables 32768 2 iptable_nat, Live 0x0\nnf-tables 1 0 - Live 0x0\n\n",
    );
    expect([...loaded]).toEqual(["ip_tables", "nf_tables"]);
    const builtin = parseModulesBuiltin(
      "kernel/fs/overlayfs/overlay.ko\nkernel/fs/fuse/fuse.ko.xz\nnot a module\n",
    );
    expect([...builtin]).toEqual(["overlay", "fuse"]);
  });

  it.each([
    ["/usr/bin/newuidmap cap_setuid=ep", "cap_setuid", true],
    ["/usr/bin/newuidmap = cap_setuid+ep", "cap_setuid", true],
    ["/usr/bin/newgidmap cap_setgid,cap_setuid=eip", "cap_setgid", true],
    ["/usr/bin/newuidmap cap_setuid=p", "cap_setuid", false],
    ["/usr/bin/newuidmap cap_setgid=ep", "cap_setuid", false],
    ["/usr/bin/newuidmap", "cap_setuid", false],
    ["", "cap_setuid", false],
  ])("hasFileCapability(%j, %s)", (output, cap, expected) =>
    expect(hasFileCapability(output, cap)).toBe(expected),
  );

  it("parseControllers keeps only controller names", () => {
    expect(parseControllers("cpuset cpu io memory pids\n")).toEqual([
      "cpuset",
      "cpu",
      "io",
      "memory",
      "pids",
    ]);
    expect(parseControllers("")).toEqual([]);
  });

  it("no parser throws on hostile input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        parseKernelRelease(text);
        parseSysctlInteger(text);
        parsePingGroupRange(text);
        parseProcModules(text);
        parseModulesBuiltin(text);
        hasFileCapability(text, "cap_setuid");
        parseControllers(text);
        for (const entry of parsePasswd(text)) expect(Number.isInteger(entry.uid)).toBe(true);
        for (const entry of parseGroup(text)) expect(Number.isInteger(entry.gid)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
