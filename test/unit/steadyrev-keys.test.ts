import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
 * without countInotify). Both held against main's build before the change (/work/wt/base): the
 * same key strings, byte for byte, for users whose names hold quotes, backslashes, controls and
 * line separators; the same counts, in the same field order, with and without an aborted run.
 */

const baseDir = process.env.ROOTLESS_REVIEW_BASE ?? "/work/wt/base";
const hasBase = existsSync(`${baseDir}/dist/collectors/subid/subid.js`);
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

/** A host of `targets` (passwd, subuid, subgid, id maps) for subid, made once for both builds. */
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
  make: { Scheduler: SchedulerClass; HostState: new () => unknown },
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
  const scheduler = new make.Scheduler({
    collectors: { subid: seen },
    settings: [{ name: "subid", enabled: true, intervalSeconds: 15 }],
    roots: { procfs: join(base, "proc"), sysfs: join(base, "sys"), rootfs: join(base, "root") },
    targets: { wants: () => false, resolve: async () => targets },
    host: new make.HostState(),
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

describe.skipIf(!hasBase)("steadyrev: the steady collectors' answers held against main", () => {
  it("gives subid's keys byte for byte as main did, whatever the users' names hold", async () => {
    const targets = ["alice", 'bo"b', "c\\d", "e\u2028f\u2029", "g\u0001\u007f", "é😀", "x y"].map(
      (name, i) => target(name, 3100 + i),
    );
    const host = fixture(targets);
    const now = await keysOf(
      { Scheduler: Scheduler as unknown as SchedulerClass, HostState },
      subidCollector as UserCollector<SubidFacts>,
      targets,
      host,
    );
    const mainSubid = (await import(`${baseDir}/dist/collectors/subid/subid.js`)) as {
      subidCollector: UserCollector<SubidFacts>;
    };
    const mainSched = (await import(`${baseDir}/dist/exporter/schedule/scheduler.js`)) as {
      Scheduler: SchedulerClass;
    };
    const mainState = (await import(`${baseDir}/dist/collectors/state.js`)) as {
      HostState: new () => unknown;
    };
    const before = await keysOf(
      { Scheduler: mainSched.Scheduler, HostState: mainState.HostState },
      mainSubid.subidCollector,
      targets,
      host,
    );
    expect(now).toHaveLength(targets.length);
    expect(now.every((k) => typeof k === "string")).toBe(true);
    console.log("HOST", host); console.log("KEYS", JSON.stringify(now));
    expect(now).toEqual(before);
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
    const main = (await import(`${baseDir}/dist/collectors/kernel/limits.js`)) as {
      readInotifyCounts: typeof readInotifyCounts;
    };
    const mainState = (await import(`${baseDir}/dist/collectors/state.js`)) as {
      Cycle: typeof Cycle;
    };
    for (const signal of [() => new AbortController().signal, () => AbortSignal.abort()]) {
      const now = await readInotifyCounts(t.roots, new Cycle(() => true), targets, signal());
      const before = await main.readInotifyCounts(
        t.roots,
        new mainState.Cycle(() => true),
        targets,
        signal(),
      );
      console.log("INO", me, JSON.stringify(now));
      expect(JSON.stringify(now)).toBe(JSON.stringify(before));
    }
  });
});
