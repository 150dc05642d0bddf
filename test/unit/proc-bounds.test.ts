import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { scanTmpStateDirs } from "../../src/host/discovery.js";
import { listDirCapped } from "../../src/host/files.js";
import { childPids, maxProcessEntries, openFiles } from "../../src/host/proc.js";
import { FakeProcfs } from "../helpers/procfs.js";

// issue 16, attack 3: what a user can fill (fds, threads, /tmp) is read capped and off the loop.
describe("listings a user can fill", () => {
  let procfs: FakeProcfs;
  beforeEach(() => {
    procfs = new FakeProcfs();
  });
  afterEach(() => procfs.cleanup());

  it.each([
    ["fewer names than the cap", 10, 64, 10, true],
    ["exactly the cap", 64, 64, 64, true],
    ["more names than the cap", 1000, 64, 64, false],
  ])("listDirCapped: %s", async (_name, made, max, listed, complete) => {
    const dir = join(procfs.dir, "many");
    mkdirSync(dir);
    for (let i = 0; i < made; i++) writeFileSync(join(dir, `f${i}`), "");
    const result = await listDirCapped(dir, max);
    expect(result).toMatchObject({ ok: true, complete });
    expect(result.ok && result.names.length).toBe(listed);
  });

  it("listDirCapped: a missing directory is a fact, not a throw", async () => {
    expect(await listDirCapped(join(procfs.dir, "none"), 8)).toMatchObject({
      ok: false,
      reason: "missing",
    });
  });

  it("childPids reads the children of at most maxProcessEntries threads", async () => {
    procfs.add({
      pid: 10,
      ppid: 1,
      comm: "rootlesskit",
      uid: 1000,
      exe: "/x",
      argv: ["x"],
      startTicks: 1,
    });
    for (let tid = 11; tid < 11 + maxProcessEntries + 88; tid++) {
      mkdirSync(join(procfs.roots.procfs, "10/task", String(tid)));
      writeFileSync(
        join(procfs.roots.procfs, "10/task", String(tid), "children"),
        `${tid + 5000} `,
      );
    }
    const children = await childPids(procfs.roots, 10);
    expect(children?.length).toBeLessThanOrEqual(maxProcessEntries);
    expect(children?.length).toBeGreaterThan(maxProcessEntries - 2);
  });

  it("openFiles follows at most `max` fds", async () => {
    procfs.add({
      pid: 20,
      ppid: 1,
      comm: "rootlesskit",
      uid: 1000,
      exe: "/x",
      argv: ["x"],
      startTicks: 1,
    });
    const fd = join(procfs.roots.procfs, "20/fd");
    mkdirSync(fd);
    for (let i = 0; i < 300; i++) symlinkSync(`/tmp/rootlesskit1/f${i}`, join(fd, String(i)));
    expect(await openFiles(procfs.roots, 20, 100)).toHaveLength(100);
    expect((await openFiles(procfs.roots, 20)).length).toBe(300);
  });

  it("scanTmpStateDirs: the newest rootlesskitNNN directory of each owner, no symlink", async () => {
    const tmp = join(procfs.roots.rootfs, "tmp");
    mkdirSync(join(tmp, "rootlesskit100"), { recursive: true });
    mkdirSync(join(tmp, "rootlesskitNaN"));
    symlinkSync("/root", join(tmp, "rootlesskit999"));
    for (let i = 0; i < 2000; i++) writeFileSync(join(tmp, `junk${i}`), "");
    const found = await scanTmpStateDirs(procfs.roots);
    expect([...found.values()]).toEqual(["/tmp/rootlesskit100"]);
  });
});
