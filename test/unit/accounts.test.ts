import { describe, expect, it } from "vitest";
import { groupsOf, parseGroup, parsePasswd } from "../../src/host/accounts.js";
import { resolveTarget, TargetError } from "../../src/host/target.js";

const passwd = parsePasswd(
  "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\nbroken:x:notanumber:1::/:/bin/sh\nshort:x:1\n",
);
const groups = parseGroup(
  "root:x:0:\nalice:x:1000:\ndocker:x:999:bob,alice\nplugdev:x:46:bob\nbad:x::alice\n",
);

describe("accounts", () => {
  it("skips malformed passwd and group lines", () => {
    expect(passwd.map((e) => e.name)).toEqual(["root", "alice"]);
    expect(groups.map((g) => g.name)).toEqual(["root", "alice", "docker", "plugdev"]);
  });

  it("lists the primary and supplementary groups", () => {
    const alice = passwd[1];
    expect(alice && groupsOf(alice, groups)).toEqual([999, 1000]);
  });

  it("resolves a target by name or uid, with /run/user/UID for another user", () => {
    const byName = resolveTarget("alice", passwd, groups, { XDG_RUNTIME_DIR: "/tmp/own" });
    expect(byName).toMatchObject({ name: "alice", uid: 1000, groups: [999, 1000] });
    const self = process.getuid?.() ?? 0;
    if (self !== 1000) expect(byName.runtimeDir).toBe("/run/user/1000");
    expect(resolveTarget("1000", passwd, groups, {}).name).toBe("alice");
    expect(() => resolveTarget("nobody-here", passwd, groups, {})).toThrow(TargetError);
  });

  it("uses XDG_RUNTIME_DIR for the account running the exporter", () => {
    const target = resolveTarget(undefined, passwd, groups, { XDG_RUNTIME_DIR: "/tmp/xdg" });
    expect(target.uid).toBe(process.getuid?.());
    expect(target.runtimeDir).toBe("/tmp/xdg");
  });
});

describe("onLocalFilesystem", () => {
  it("reads procfs and sysfs at once, and a path of no known mount as possibly remote", async () => {
    const { onLocalFilesystem } = await import("../../src/host/files.js");
    expect(onLocalFilesystem("/proc/self/status")).toBe(true);
    expect(onLocalFilesystem("/sys/fs/cgroup")).toBe(true);
    expect(onLocalFilesystem("relative/path")).toBe(false);
  });
});
