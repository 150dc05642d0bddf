import { lchownSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, expect, vi } from "vitest";
import type { Collector, UserCollector } from "../../src/collectors/collector.js";
import { racyMs } from "../../src/collectors/live-inputs.js";
import { HostState } from "../../src/collectors/state.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";
import { FakeProcfs } from "./procfs.js";

// What the reuse tests (issue 19: reuse-inputs, reuse-live, reuse-live-review) share: a user who
// is not the exporter, with a tree and processes of theirs, watched by a scheduler whose full
// runs are counted. Root only: the files are handed to the user's uid.

/** Fakes Date far enough ahead that every file written until now is past the racy guard. */
export function settledClock(): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + 10 * racyMs);
}

/** A process of the user's, in the kernel's formats (FakeProcfs), started at tick 5000 unless told. */
export interface UserProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly exe: string;
  readonly argv: readonly string[];
  readonly startTicks?: number;
  readonly children?: readonly number[];
  /** Writes uid_map and gid_map: the user's uid as 0, then 65,536 subordinate ids. */
  readonly idMaps?: boolean;
}

/**
 * A watched user in a new temporary directory `base`: base/proc a FakeProcfs (its stat, an empty
 * locks), the user's home and runtime dir at base/u/home and base/u/run (not made: each test
 * makes what it needs). Made by make() (in beforeAll), gone by remove(); the writers are bound,
 * so they can be destructured.
 */
export class ReuseUser {
  private made: { readonly fake: FakeProcfs; readonly target: Target } | undefined;

  constructor(
    private readonly name: string,
    readonly uid: number,
  ) {}

  make(): void {
    const fake = new FakeProcfs();
    fake.write("locks", "");
    mkdirSync(join(fake.dir, "u"), { mode: 0o755 });
    const { uid } = this;
    const target = {
      name: this.name,
      uid,
      gid: uid,
      groups: [uid],
      home: join(fake.dir, "u", "home"),
      runtimeDir: join(fake.dir, "u", "run"),
    };
    this.made = { fake, target };
  }

  private get ready(): { readonly fake: FakeProcfs; readonly target: Target } {
    if (!this.made) throw new Error("ReuseUser: make() first");
    return this.made;
  }

  private get fake(): FakeProcfs {
    return this.ready.fake;
  }

  get base(): string {
    return this.fake.dir;
  }

  get target(): Target {
    return this.ready.target;
  }

  /** The fake procfs root (base/proc). */
  get procfs(): string {
    return this.fake.roots.procfs;
  }

  /** What the scheduler reads: the fake procfs, and the real root filesystem for the tree. */
  get roots(): HostRoots {
    return { ...this.fake.roots, rootfs: "/" };
  }

  readonly own = (path: string): void => lchownSync(path, this.uid, this.uid);

  /** A file of root's, its directories made as needed. */
  readonly write = (path: string, text: string): void => {
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
  };

  readonly writeOwn = (path: string, text: string): void => {
    writeFileSync(path, text);
    this.own(path);
  };

  readonly mkdirOwn = (path: string): void => {
    mkdirSync(path, { mode: 0o700 });
    this.own(path);
  };

  /** Adds (or replaces) a process of the user's. */
  readonly proc = (p: UserProcess): void => {
    const { uid } = this;
    this.fake.add({ ...p, uid, startTicks: p.startTicks ?? 5000 });
    if (!p.idMaps) return;
    this.fake.write(`${p.pid}/uid_map`, `0 ${uid} 1\n1 100000 65536\n`);
    this.fake.write(`${p.pid}/gid_map`, `0 ${uid} 1\n1 100000 65536\n`);
  };

  /** Process `pid` holds `lock`'s flock (/proc/locks, as the kernel prints it). */
  readonly holdLock = (pid: number, lock: string): void => {
    const { dev, ino } = statSync(lock);
    const major = ((dev >>> 8) & 0xfff).toString(16).padStart(2, "0");
    const minor = ((dev & 0xff) | ((dev >>> 12) & 0xfff00)).toString(16).padStart(2, "0");
    this.fake.write("locks", `1: FLOCK  ADVISORY  WRITE ${pid} ${major}:${minor}:${ino} 0 EOF\n`);
  };

  remove(): void {
    if (this.made) rmSync(this.made.fake.dir, { recursive: true, force: true });
  }
}

/**
 * A scheduler watching one target with user `collectors` (by name), each one's full runs counted:
 * what the reuse tests look at is how many full runs a cycle made and which facts it served.
 * start() in beforeAll, stop() in afterAll; the methods are bound, so they can be destructured.
 */
export class CountedScheduler<N extends string> {
  /** A cycle's count when no collector made a full run, and when each made one. */
  readonly none: Readonly<Record<N, number>>;
  readonly all: Readonly<Record<N, number>>;
  private readonly calls: Record<string, number> = {};
  private started: Scheduler<Record<N, unknown>> | undefined;

  constructor(private readonly collectors: Readonly<Record<N, Collector<unknown>>>) {
    const names = Object.keys(collectors);
    this.none = Object.fromEntries(names.map((name) => [name, 0])) as Record<N, number>;
    this.all = Object.fromEntries(names.map((name) => [name, 1])) as Record<N, number>;
  }

  start(target: Target, roots: HostRoots): void {
    const collectors = Object.fromEntries(
      Object.entries<Collector<unknown>>(this.collectors).map(([name, c]) => {
        const collector = c as UserCollector<unknown>;
        const counted: UserCollector<unknown> = {
          ...collector,
          collect: (ctx) => {
            this.calls[name] = (this.calls[name] ?? 0) + 1;
            return collector.collect(ctx);
          },
        };
        return [name, counted];
      }),
    ) as Record<N, UserCollector<unknown>>;
    this.started = new Scheduler<Record<N, unknown>>({
      collectors,
      settings: Object.keys(collectors).map((name) => ({
        name,
        enabled: true,
        intervalSeconds: 15,
      })),
      roots,
      targets: { wants: (u) => u === target.uid, resolve: async () => [target] },
      host: new HostState(),
      timeoutMs: 5000,
      rpcTimeoutMs: 200,
      collectorOptions: {},
      env: {},
      log: pino({ level: "silent" }),
      trigger: () => ({ stop: () => undefined }),
    });
  }

  get scheduler(): Scheduler<Record<N, unknown>> {
    if (!this.started) throw new Error("CountedScheduler: start() first");
    return this.started;
  }

  /** Full runs of `name` so far. */
  readonly fullRuns = (name: N): number => this.calls[name] ?? 0;

  /** One cycle; the full runs of each collector in it. */
  readonly cycle = async (): Promise<Record<N, number>> => {
    const before = { ...this.calls };
    await this.scheduler.runAll();
    return Object.fromEntries(
      Object.keys(this.collectors).map((name) => [
        name,
        (this.calls[name] ?? 0) - (before[name] ?? 0),
      ]),
    ) as Record<N, number>;
  };

  /** The facts `name` serves for the target now. */
  readonly facts = (name: N): Record<string, unknown> =>
    this.scheduler.targetViews()[0]?.facts[name] as Record<string, unknown>;

  /** Settled: two full runs (the key needs the part of one), then the static parts reused. */
  readonly settle = async (): Promise<void> => {
    settledClock();
    await this.cycle();
    await this.cycle();
    expect(await this.cycle()).toEqual(this.none);
  };

  async stop(): Promise<void> {
    await this.started?.stop();
  }
}

/**
 * The hooks of a describe block over one user: before all, the user's tree is made, `setup`
 * writes what the block needs in it and the scheduler starts; after each test the real clock is
 * back; after all, the scheduler stops and the tree goes.
 */
export function watchUser<N extends string>(
  user: ReuseUser,
  runs: CountedScheduler<N>,
  setup: () => void,
): void {
  beforeAll(() => {
    user.make();
    setup();
    runs.start(user.target, user.roots);
  });
  afterEach(() => vi.useRealTimers());
  afterAll(async () => {
    await runs.stop();
    user.remove();
  });
}
