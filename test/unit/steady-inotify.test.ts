import { afterEach, describe, expect, it } from "vitest";
import { readInotifyCounts } from "../../src/collectors/kernel/limits.js";
import { Cycle } from "../../src/collectors/state.js";
import { countInotify, inotifyBounds } from "../../src/host/inotify.js";
import type { Target } from "../../src/host/target.js";
import { FakeProcfs } from "../helpers/procfs.js";

// The helper "steady": the kernel collector counts a user without processes (most users of a
// host) without countInotify's promise, with countInotify's own answer for no processes, and
// still stops at an aborted run before the first user.
const trees: FakeProcfs[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});

const me = process.getuid?.() ?? 1000;
const user = (uid: number): Target => ({
  name: `u${uid}`,
  uid,
  gid: uid,
  groups: [uid],
  home: `/home/u${uid}`,
  runtimeDir: `/run/user/${uid}`,
});

describe("steady: inotify counts of users without processes", () => {
  it("gives a user without processes countInotify's answer for none, in its field order", async () => {
    const t = new FakeProcfs();
    trees.push(t);
    t.add({
      pid: 10,
      ppid: 1,
      comm: "p10",
      uid: me,
      exe: "/usr/bin/true",
      argv: ["true"],
      startTicks: 10,
      fds: ["anon_inode:inotify", "/dev/null"],
    });
    const signal = new AbortController().signal;
    const targets = [user(me + 7001), user(me), user(me + 7002)];
    const counts = await readInotifyCounts(t.roots, new Cycle(() => true), targets, signal);
    const none = await countInotify(t.roots, [], signal, inotifyBounds);
    for (const uid of [me + 7001, me + 7002]) {
      expect(counts[uid]).toEqual(none);
      expect(Object.keys(counts[uid] ?? {})).toEqual(Object.keys(none));
    }
    expect(counts[me]).toMatchObject({ instances: 1, processes: 1, descriptors: 2 });
    expect(Object.keys(counts).map(Number)).toEqual(
      [me + 7001, me, me + 7002].sort((a, b) => a - b),
    );
  });

  it("counts nobody in a run aborted before it starts", async () => {
    const t = new FakeProcfs();
    trees.push(t);
    const counts = await readInotifyCounts(
      t.roots,
      new Cycle(() => true),
      [user(me + 7001), user(me + 7002)],
      AbortSignal.abort(),
    );
    expect(counts).toEqual({});
  });
});
