import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { UserCollector } from "../../src/collectors/collector.js";
import { readInotifyCounts } from "../../src/collectors/kernel/limits.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import type { SubidFacts } from "../../src/collectors/subid/subid.js";
import { subidCollector } from "../../src/collectors/subid/subid.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { Target } from "../../src/host/target.js";
import { FakeProcfs } from "../helpers/procfs.js";

/*
 * Review "steadyrev" of the steady cycle's collector changes: subid's key (the host's part escaped
 * once a cycle) and the kernel collector's inotify counts (a user without processes answered
 * without countInotify). Both give the answers main's build gave before the change, written out
 * here: the same key strings, byte for byte, for users whose names hold quotes, backslashes,
 * controls and line separators; the same counts, in the same field order, with and without an
 * aborted run.
 */

const me = process.getuid?.() ?? 1000;
const target = (name: string, uid: number): Target => ({
  name,
  uid,
  gid: uid,
  groups: [uid],
  home: `/home/u${uid}`,
  runtimeDir: `/run/user/${uid}`,
});

type Sched = { runAll(): Promise<void>; stop(): Promise<void> };
type SchedulerClass = new (options: Record<string, unknown>) => Sched;

const trees: string[] = [];
const fakes: FakeProcfs[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) rmSync(t, { recursive: true, force: true });
  for (const t of fakes.splice(0)) t.cleanup();
});

/** A host of `targets` (passwd, subuid, subgid, id maps) for subid. */
function fixture(targets: readonly Target[]): string {
  const base = mkdtempSync(join(tmpdir(), "rootless-exporter-steadyrev-keys-"));
  trees.push(base);
  const etc = join(base, "root", "etc");
  mkdirSync(etc, { recursive: true });
  mkdirSync(join(base, "proc", "self"), { recursive: true });
  const passwd = targets.map((t) => `${t.name}:x:${t.uid}:${t.gid}::${t.home}:/bin/sh\n`);
  writeFileSync(join(etc, "passwd"), passwd.join(""));
  writeFileSync(join(etc, "subuid"), `${targets[0]?.name}:100000:65536\nbad line\n`);
  writeFileSync(join(etc, "subgid"), `${targets[0]?.name}:100000:65536\n`);
  writeFileSync(join(base, "proc", "self", "uid_map"), "0 0 4294967295\n");
  writeFileSync(join(base, "proc", "self", "gid_map"), "0 0 4294967295\n");
  return base;
}

/** The keys subid's `inputs` gives every user in a second run (a warm cycle) of `collector`. */
async function keysOf(
  collector: UserCollector<SubidFacts>,
  targets: readonly Target[],
  base: string,
): Promise<(string | undefined)[]> {
  const keys: (string | undefined)[] = [];
  const inputs = collector.inputs;
  if (!inputs) throw new Error("subid has a key");
  const seen: UserCollector<SubidFacts> = {
    ...collector,
    inputs: async (ctx, again) => {
      const key = await inputs(ctx, again);
      keys.push(key);
      return key;
    },
  };
  const scheduler = new (Scheduler as unknown as SchedulerClass)({
    collectors: { subid: seen },
    settings: [{ name: "subid", enabled: true, intervalSeconds: 15 }],
    roots: { procfs: join(base, "proc"), sysfs: join(base, "sys"), rootfs: join(base, "root") },
    targets: { wants: () => false, resolve: async () => targets },
    host: new HostState(),
    timeoutMs: 5000,
    rpcTimeoutMs: 200,
    collectorOptions: {},
    env: {},
    log: pino({ level: "silent" }),
    trigger: () => ({ stop: () => undefined }),
  });
  try {
    await scheduler.runAll();
    keys.length = 0;
    await scheduler.runAll();
  } finally {
    await scheduler.stop();
  }
  return keys.sort();
}

describe("steadyrev: the steady collectors give main's answers", () => {
  it("gives subid's keys byte for byte as main did, whatever the users' names hold", async () => {
    const targets = ["alice", 'bo"b', "c\\d", "e\u2028f\u2029", "g\u0001\u007f", "é😀", "x y"].map(
      (name, i) => target(name, 3100 + i),
    );
    const host = fixture(targets);
    const now = await keysOf(subidCollector as UserCollector<SubidFacts>, targets, host);
    // main's keys: JSON.stringify([hostPart, uid, name]), hostPart the JSON of ["subid", the subid
    // index's key (the roots and the identities of passwd, subuid and subgid), the source, the
    // parent's id maps].
    const identity = (name: string) => {
      const s = statSync(join(host, "root", "etc", name));
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    };
    const roots = {
      procfs: join(host, "proc"),
      sysfs: join(host, "sys"),
      rootfs: join(host, "root"),
    };
    const index = JSON.stringify([roots, ["passwd", "subuid", "subgid"].map(identity)]);
    const whole = { ok: true, ranges: [{ start: 0, count: 4294967295 }] };
    const hostPart = JSON.stringify(["subid", index, { ok: true }, { uid: whole, gid: whole }]);
    // The users' parts as main wrote them, byte for byte (U+2028, U+2029 and DEL left as they are).
    const tails = [
      ',3100,"alice"]',
      ',3101,"bo\\"b"]',
      ',3102,"c\\\\d"]',
      ',3103,"e\u2028f\u2029"]',
      ',3104,"g\\u0001\u007f"]',
      ',3105,"é😀"]',
      ',3106,"x y"]',
    ];
    expect(now).toHaveLength(targets.length);
    expect(now.every((k) => typeof k === "string")).toBe(true);
    expect(now).toEqual(tails.map((tail) => `[${JSON.stringify(hostPart)}${tail}`));
  });

  it("gives the inotify counts main gave, users with and without processes, aborted or not", async () => {
    const t = new FakeProcfs();
    fakes.push(t);
    for (const [pid, uid, fds] of [
      [10, me, ["anon_inode:inotify", "/dev/null"]],
      [11, me + 7003, ["anon_inode:inotify", "anon_inode:inotify"]],
      [12, me + 7003, []],
    ] as const)
      t.add({
        pid,
        ppid: 1,
        comm: `p${pid}`,
        uid,
        exe: "/usr/bin/true",
        argv: ["true"],
        startTicks: pid,
        fds: [...fds],
      });
    const targets = [me + 7001, me, me + 7002, me + 7003, me + 7004].map((uid) =>
      target(`u${uid}`, uid),
    );
    // main's counts: every user, those without processes at zero, in this field order; an aborted
    // run, none at all.
    const count = (instances: number, processes: number, descriptors: number) => ({
      instances,
      processes,
      descriptors,
      unreadable: 0,
      complete: true,
    });
    const expected = [
      {
        [me]: count(1, 1, 2),
        [me + 7001]: count(0, 0, 0),
        [me + 7002]: count(0, 0, 0),
        [me + 7003]: count(2, 2, 2),
        [me + 7004]: count(0, 0, 0),
      },
      {},
    ];
    for (const [i, signal] of [
      () => new AbortController().signal,
      () => AbortSignal.abort(),
    ].entries()) {
      const now = await readInotifyCounts(t.roots, new Cycle(() => true), targets, signal());
      expect(JSON.stringify(now)).toBe(JSON.stringify(expected[i]));
    }
  });
});
