import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processes } from "../../src/collectors/scans.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { parseUidMin } from "../../src/host/accounts.js";
import type { TargetMode } from "../../src/targets/targets.js";
import { Targets, targetMode } from "../../src/targets/targets.js";
import { TargetError } from "../../src/host/target.js";
import type { FakeProcfs } from "../helpers/procfs.js";
import { accountsHost, passwd } from "../helpers/accounts-host.js";
import { requireOnCi } from "../helpers/prerequisites.js";

const asRoot = process.getuid?.() === 0;

describe("host mode: which users are watched", () => {
  let procfs: FakeProcfs;
  const host = new HostState();
  const cycle = (targets: Targets) => new Cycle(targets.wants);

  beforeEach(() => {
    procfs = accountsHost();
  });
  afterEach(() => procfs.cleanup());

  it("takes subordinate IDs (by name or uid), linger and /run/user/UID, above UID_MIN, minus --target.exclude", async () => {
    const targets = await Targets.create(
      procfs.roots,
      { users: [], exclude: ["excluded"], minUid: undefined },
      {},
      0,
    );
    expect(targets.mode).toEqual({ kind: "host", minUid: 1000, exclude: ["excluded"] });
    const found = await targets.resolve(cycle(targets), host);
    expect(found.map((t) => [t.name, t.runtimeDir])).toEqual([
      ["subonly", "/run/user/1001"],
      ["lingers", "/run/user/1002"],
      ["rundir", "/run/user/1003"],
      ["byuid", "/run/user/1006"],
    ]);
    expect(found[0]?.groups).toEqual([100, 1001]);
  });

  it("honours --target.min-uid and excludes by uid too", async () => {
    const targets = await Targets.create(
      procfs.roots,
      { users: [], exclude: ["1001"], minUid: 900 },
      {},
      0,
    );
    const names = (await targets.resolve(cycle(targets), host)).map((t) => t.name);
    expect(names).toEqual(["low", "lingers", "rundir", "excluded", "byuid"]);
  });

  it.skipIf(requireOnCi(asRoot ? undefined : "needs root"))(
    "adds the owner of a running rootlesskit, with the runtime dir it was started with",
    async () => {
      const elsewhere = join(procfs.roots.rootfs, "home/kit/.run");
      mkdirSync(elsewhere, { recursive: true });
      const { chownSync } = await import("node:fs");
      chownSync(elsewhere, 1004, 1004);
      procfs.add({
        pid: 700,
        ppid: 1,
        comm: "rootlesskit",
        uid: 1004,
        exe: "/usr/bin/rootlesskit",
        argv: ["rootlesskit"],
        startTicks: 10,
      });
      procfs.write("700/environ", "HOME=/home/kit\0XDG_RUNTIME_DIR=/home/kit/.run\0");
      // A second user pointing XDG_RUNTIME_DIR at someone else's directory gets the standard one.
      procfs.add({
        pid: 701,
        ppid: 1,
        comm: "rootlesskit",
        uid: 1007,
        exe: "/usr/bin/rootlesskit",
        argv: ["rootlesskit"],
        startTicks: 11,
      });
      procfs.write("701/environ", "XDG_RUNTIME_DIR=/home/kit/.run\0");
      const targets = await Targets.create(
        procfs.roots,
        { users: [], exclude: [], minUid: undefined },
        {},
        0,
      );
      // A directory of the user's own whose name would smuggle more into a D-Bus address.
      const smuggled = "/home/byuid/e,path=;unixexec:path=x";
      mkdirSync(join(procfs.roots.rootfs, smuggled), { recursive: true });
      chownSync(join(procfs.roots.rootfs, smuggled), 1006, 1006);
      procfs.add({
        pid: 702,
        ppid: 1,
        comm: "rootlesskit",
        uid: 1006,
        exe: "/usr/bin/rootlesskit",
        argv: ["rootlesskit"],
        startTicks: 12,
      });
      procfs.write("702/environ", `XDG_RUNTIME_DIR=${smuggled}\0`);
      // The docker CLI's comm ("docker") is no rootlesskit, however its prefix reads.
      procfs.add({
        pid: 703,
        ppid: 1,
        comm: "docker",
        uid: 1003,
        exe: "/usr/bin/docker",
        argv: ["docker"],
        startTicks: 13,
      });
      procfs.write("703/environ", "XDG_RUNTIME_DIR=/home/kit/.run\0");
      const found = await targets.resolve(cycle(targets), host);
      expect(found.find((t) => t.name === "kit")?.runtimeDir).toBe("/home/kit/.run");
      expect(found.find((t) => t.name === "nothing")?.runtimeDir).toBe("/run/user/1007");
      expect(found.find((t) => t.name === "byuid")?.runtimeDir).toBe("/run/user/1006");
      expect(found.find((t) => t.name === "rundir")?.runtimeDir).toBe("/run/user/1003");
    },
  );

  it.skipIf(requireOnCi(asRoot ? undefined : "needs root"))(
    "takes a rootlesskit's start time from the cycle's scan, and no environment of a pid reused since",
    async () => {
      const { chownSync } = await import("node:fs");
      for (const dir of ["home/kit/.run", "home/kit/.other"]) {
        mkdirSync(join(procfs.roots.rootfs, dir), { recursive: true });
        chownSync(join(procfs.roots.rootfs, dir), 1004, 1004);
      }
      const kit = {
        pid: 700,
        ppid: 1,
        comm: "rootlesskit",
        uid: 1004,
        exe: "/usr/bin/rootlesskit",
        argv: ["rootlesskit"],
        startTicks: 10,
      };
      procfs.add(kit);
      procfs.write("700/environ", "XDG_RUNTIME_DIR=/home/kit/.run\0");
      const targets = await Targets.create(
        procfs.roots,
        { users: [], exclude: [], minUid: undefined },
        {},
        0,
      );
      const dirOf = (found: readonly { name: string; runtimeDir: string }[]) =>
        found.find((t) => t.name === "kit")?.runtimeDir;
      // The cycle scans /proc; then pid 700 is another process of the user's (a new start time)
      // with another environment before the roster reads it: not taken for the scanned one.
      const first = cycle(targets);
      await processes(first, procfs.roots);
      procfs.add({ ...kit, startTicks: 99 });
      procfs.write("700/environ", "XDG_RUNTIME_DIR=/home/kit/.other\0");
      expect(dirOf(await targets.resolve(first, host))).toBe("/run/user/1004");
      // The next cycle scans the new process: its own environment, read (nothing kept wrongly).
      expect(dirOf(await targets.resolve(cycle(targets), host))).toBe("/home/kit/.other");
      // Kept under its pid and start time: a new environment of the same process is not read
      // again (as before: the value it was started with, until the process changes).
      procfs.write("700/environ", "XDG_RUNTIME_DIR=/home/kit/.run\0");
      expect(dirOf(await targets.resolve(cycle(targets), host))).toBe("/home/kit/.other");
    },
  );

  it("drops a user deleted from /etc/passwd at the next resolution", async () => {
    const targets = await Targets.create(
      procfs.roots,
      { users: [], exclude: [], minUid: undefined },
      {},
      0,
    );
    expect((await targets.resolve(cycle(targets), host)).map((t) => t.name)).toContain("lingers");
    procfs.writeRoot("/etc/passwd", `${passwd.replace(/^lingers:.*$/m, "")}\n`);
    expect((await targets.resolve(cycle(targets), host)).map((t) => t.name)).not.toContain(
      "lingers",
    );
  });

  it("refuses a --target.user that names nobody, and watches exactly the named users", async () => {
    await expect(
      Targets.create(
        procfs.roots,
        { users: ["nobody-here"], exclude: [], minUid: undefined },
        {},
        0,
      ),
    ).rejects.toThrow(TargetError);
    const targets = await Targets.create(
      procfs.roots,
      { users: ["kit", "1001"], exclude: [], minUid: undefined },
      {},
      0,
    );
    expect((await targets.resolve(cycle(targets), host)).map((t) => t.name)).toEqual([
      "kit",
      "subonly",
    ]);
    expect([targets.wants(1004), targets.wants(1001), targets.wants(1002)]).toEqual([
      true,
      true,
      false,
    ]);
  });

  it("keeps whom it watched when /etc/passwd cannot be read", async () => {
    const targets = await Targets.create(
      procfs.roots,
      { users: [], exclude: [], minUid: undefined },
      {},
      0,
    );
    procfs.writeRoot("/etc/passwd", "");
    const { rmSync } = await import("node:fs");
    rmSync(join(procfs.roots.rootfs, "etc/passwd"));
    await expect(targets.resolve(cycle(targets), host)).rejects.toThrow(/\/etc\/passwd/);
  });
});

describe("targetMode", () => {
  const none = { users: [], exclude: [], minUid: undefined };
  it.each<[string, Parameters<typeof targetMode>[0], number, number | undefined, TargetMode]>([
    ["a user watches itself", none, 1000, undefined, { kind: "self" }],
    [
      "root with no --target.user watches the host",
      none,
      0,
      500,
      { kind: "host", minUid: 500, exclude: [] },
    ],
    ["UID_MIN missing: 1000", none, 0, undefined, { kind: "host", minUid: 1000, exclude: [] }],
    [
      "--target.min-uid wins",
      { ...none, minUid: 2000 },
      0,
      500,
      { kind: "host", minUid: 2000, exclude: [] },
    ],
    [
      "--target.user: exactly those",
      { ...none, users: ["a"] },
      0,
      500,
      { kind: "listed", users: ["a"] },
    ],
  ])("%s", (_, options, uid, loginDefs, expected) => {
    expect(targetMode(options, uid, loginDefs)).toEqual(expected);
  });

  it.each([
    ["UID_MIN 1000\n", 1000],
    ["#UID_MIN 5\nUID_MIN   2000  \n", 2000],
    ["UID_MAX 60000\n", undefined],
    ["UID_MIN abc\n", undefined],
  ])("parseUidMin(%j) = %j", (text, expected) => expect(parseUidMin(text)).toBe(expected));
});
