import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { driverNow } from "../../src/collectors/network/driver.js";
import { readProcess } from "../../src/host/proc.js";
import { FakeProcfs } from "../helpers/procfs.js";

/*
 * lastrev (hostile review of steadycpu's driverNow): a refresh's look at the driver process is
 * readProcess's without exe and argv: the same stat and status, undefined for a zombie, a dead
 * process, or unparsable files (a comm with ") " in it, as a user may name a process).
 * Merged tree only (8771e57 has no driverNow).
 */
describe("lastrev: driverNow is readProcess without exe", () => {
  let procfs: FakeProcfs;
  beforeEach(() => (procfs = new FakeProcfs()));
  afterEach(() => procfs.cleanup());
  const add = (comm: string) =>
    procfs.add({
      pid: 42,
      ppid: 1,
      comm,
      uid: 1001,
      exe: "/usr/bin/slirp4netns",
      argv: ["x"],
      startTicks: 77,
    });

  it.each(["slirp4netns", "a) S 1 (b", "pasta"])(
    "same stat and status for comm %j",
    async (comm) => {
      add(comm);
      const full = await readProcess(procfs.roots, 42, { argv: false });
      const now = await driverNow(procfs.roots, 42);
      expect(full).toBeDefined();
      expect(now).toEqual({ ...full, exe: undefined, argv: [] });
      expect(now).not.toHaveProperty("exe");
    },
  );

  it("a zombie, a dead process, an unreadable status: undefined, as readProcess", async () => {
    add("slirp4netns");
    const stat = join(procfs.roots.procfs, "42/stat");
    writeFileSync(stat, readFileSync(stat, "utf8").replace(") S ", ") Z "));
    expect(await driverNow(procfs.roots, 42)).toBeUndefined();
    expect(await readProcess(procfs.roots, 42, { argv: false })).toBeUndefined();
    procfs.remove(42);
    expect(await driverNow(procfs.roots, 42)).toBeUndefined();
  });
});
