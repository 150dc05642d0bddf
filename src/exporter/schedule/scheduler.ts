import cron from "node-cron";
import type { Logger } from "pino";
import type { Collector, HostContext, UserContext } from "../../collectors/collector.js";
import type { HostState } from "../../collectors/state.js";
import { Cycle, TargetState } from "../../collectors/state.js";
import type { CollectorSetting } from "../../config.js";
import type { HostRoots } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import { cronForInterval } from "./intervals.js";

/** The latest outcome of one collector for one target (or for the host). */
export interface RunState<F> {
  /** Facts of the last run, present only when that run succeeded. */
  readonly facts: F | undefined;
  readonly ok: boolean | undefined;
  readonly error: string | undefined;
  readonly lastRunAt: number | undefined;
  readonly durationSeconds: number | undefined;
  readonly lastSuccessAt: number | undefined;
  readonly errorsTotal: number;
  readonly runs: number;
}

/** One collector over every target, for the rootless_collector_* series and the landing page. */
export interface CollectorState {
  readonly name: string;
  readonly scope: "host" | "user";
  readonly intervalSeconds: number;
  /** Every run of its last cycle succeeded; undefined before its first cycle. */
  readonly ok: boolean | undefined;
  /** The errors of the last cycle, "user: error" for a user collector. */
  readonly error: string | undefined;
  readonly lastRunAt: number | undefined;
  /** The slowest run of its last cycle. */
  readonly durationSeconds: number | undefined;
  /** The oldest of the targets' last successes: a stale user makes the collector look stale. */
  readonly lastSuccessAt: number | undefined;
  /** Failed runs since start, targets that went away included (a counter never goes down). */
  readonly errorsTotal: number;
  readonly runs: number;
}

/** What one watched user looks like now: every collector's latest good facts about them. */
export interface TargetView<F> {
  readonly target: Target;
  readonly facts: Partial<F>;
  /** Every enabled collector has reported on this user (and the host) at least once. */
  readonly complete: boolean;
  /** "collector: error" of the collectors whose last run for this user (or the host) failed. */
  readonly errors: readonly string[];
}

/** Something that calls `fire` every `intervalSeconds` until stopped. */
export interface Trigger {
  stop(): void;
}
export type TriggerFactory = (intervalSeconds: number, name: string, fire: () => void) => Trigger;

/** node-cron, aligned to the clock: a 15s interval fires at :00, :15, :30, :45. */
export const cronTrigger: TriggerFactory = (intervalSeconds, name, fire) => {
  const expression = cronForInterval(intervalSeconds);
  if (!expression) throw new Error(`interval ${intervalSeconds}s cannot be scheduled`);
  const task = cron.schedule(expression, fire, { name, noOverlap: true });
  return { stop: () => void task.destroy() };
};

/** Who is watched: resolved at the start of every cycle (users come and go). */
export interface TargetSource {
  /** Whether the processes of `uid` may belong to a watched user (what the process scan reads). */
  readonly wants: (uid: number) => boolean;
  readonly resolve: (cycle: Cycle, host: HostState) => Promise<readonly Target[]>;
}

/** The collectors by name, each producing the facts of its key. */
export type CollectorSet<F> = { readonly [K in keyof F]: Collector<F[K]> };

export interface SchedulerOptions<F> {
  readonly collectors: CollectorSet<F>;
  readonly settings: readonly CollectorSetting[];
  readonly roots: HostRoots;
  readonly targets: TargetSource;
  readonly host: HostState;
  readonly timeoutMs: number;
  readonly rpcTimeoutMs: number;
  readonly collectorOptions: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  readonly trigger?: TriggerFactory;
  /** Called after every run, so renderers can drop their cache. */
  readonly onChange?: () => void;
  /** The uid the exporter runs as: a target with it gets the exporter's own environment. */
  readonly selfUid?: number;
}

interface Slot<F> {
  readonly collector: Collector<F>;
  readonly target: Target | undefined;
  state: RunState<F>;
  /** The run in progress, also after it was abandoned for its timeout. */
  inflight: Promise<unknown> | undefined;
  controller: AbortController | undefined;
  /** When the run in progress started (performance.now()). */
  startedAt: number;
  notes: Set<string>;
  /** Made on first use: thousands of idle slots need no logger of their own. */
  logger: Logger | undefined;
}

/** One enabled collector and everything the scheduler keeps about it. */
interface Entry<F, K extends keyof F> {
  readonly name: K;
  readonly collector: Collector<F[K]>;
  readonly setting: CollectorSetting;
  /** The host slot, or one slot per watched user keyed by uid and name. */
  readonly slots: Map<string, Slot<F[K]>>;
  /** Errors of slots whose user went away, so errorsTotal never goes down. */
  retiredErrors: number;
  /** Runs of slots whose user went away. */
  retiredRuns: number;
  /** When its last cycle started; undefined before the first. */
  cycleAt: number | undefined;
}

interface Watched {
  readonly target: Target;
  readonly state: TargetState;
}

class RunTimeout extends Error {}

const hostKey = "";
/** Users whose collectors run at the same time within a cycle. */
const usersAtOnce = 8;
/** A user still running after this is left to finish while their worker takes the next user. */
const handOffMs = 100;
/** At most this many users left running at once; past it, a worker waits for one to end. */
const usersLeftAtOnce = 64;
const targetKey = (target: Target): string => `${target.uid}\0${target.name}`;

function emptyState<F>(): RunState<F> {
  return {
    facts: undefined,
    ok: undefined,
    error: undefined,
    lastRunAt: undefined,
    durationSeconds: undefined,
    lastSuccessAt: undefined,
    errorsTotal: 0,
    runs: 0,
  };
}

/**
 * Runs the collectors in cycles: the collectors sharing an interval fire together, with one
 * Cycle memo, once for the host and once per watched user, each run under its own timeout. A
 * user's slow run never holds up another user's: every run records its outcome when it ends.
 */
export class Scheduler<F> {
  private readonly entries: Entry<F, keyof F>[];
  private readonly watched = new Map<string, Watched>();
  private triggers: Trigger[] = [];
  private stopped = false;
  /** Resolution of the targets in progress: cycles that start together share it. */
  private resolving: Promise<void> | undefined;
  /** Why the last resolution of the targets failed, while it does. */
  resolveError: string | undefined;

  constructor(private readonly options: SchedulerOptions<F>) {
    this.entries = [];
    for (const setting of options.settings) {
      if (!setting.enabled || !(setting.name in options.collectors)) continue;
      const name = setting.name as keyof F;
      this.entries.push({
        name,
        collector: options.collectors[name],
        setting,
        slots: new Map(),
        retiredErrors: 0,
        retiredRuns: 0,
        cycleAt: undefined,
      });
    }
  }

  /** Runs every collector now, then each interval's collectors together on their interval. */
  start(): void {
    const trigger = this.options.trigger ?? cronTrigger;
    this.stopped = false;
    void this.cycle(this.entries);
    const intervals = [...new Set(this.entries.map((e) => e.setting.intervalSeconds))];
    for (const interval of intervals) {
      const group = this.entries.filter((e) => e.setting.intervalSeconds === interval);
      this.triggers.push(trigger(interval, `cycle-${interval}s`, () => void this.cycle(group)));
    }
  }

  /** Stops the triggers, aborts runs in progress and releases every target's state. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const trigger of this.triggers) trigger.stop();
    this.triggers = [];
    for (const entry of this.entries)
      for (const slot of entry.slots.values()) slot.controller?.abort();
    for (const watched of this.watched.values()) watched.state.stop();
    this.watched.clear();
  }

  /** One cycle of every enabled collector, waited for: the `check` command. */
  async runAll(): Promise<void> {
    await this.cycle(this.entries);
  }

  /** The users watched now. */
  targets(): readonly Target[] {
    return [...this.watched.values()].map((w) => w.target);
  }

  /** The last outcome of each user collector for each user. */
  userRuns(): { collector: string; user: string; ok: boolean }[] {
    const runs: { collector: string; user: string; ok: boolean }[] = [];
    for (const entry of this.entries) {
      if (entry.collector.scope !== "user") continue;
      for (const slot of entry.slots.values()) {
        if (slot.target && slot.state.ok !== undefined)
          runs.push({ collector: String(entry.name), user: slot.target.name, ok: slot.state.ok });
      }
    }
    return runs;
  }

  collectorStates(): CollectorState[] {
    return this.entries.map((entry) => summarize(entry));
  }

  /** Every host collector has reported at least once. */
  hostComplete(): boolean {
    return this.entries.every(
      (entry) =>
        entry.collector.scope !== "host" || entry.slots.get(hostKey)?.state.ok !== undefined,
    );
  }

  /** The latest good facts of the host collectors. */
  hostFacts(): Partial<F> {
    const facts: Partial<F> = {};
    for (const entry of this.entries) {
      const state = entry.collector.scope === "host" ? entry.slots.get(hostKey)?.state : undefined;
      if (state?.ok) facts[entry.name] = state.facts;
    }
    return facts;
  }

  /** Each watched user with the latest facts of every collector about them and the host. */
  targetViews(): TargetView<F>[] {
    const host: Partial<F> = {};
    const hostErrors: string[] = [];
    let hostComplete = true;
    for (const entry of this.entries) {
      if (entry.collector.scope !== "host") continue;
      const state = entry.slots.get(hostKey)?.state;
      if (state?.ok === undefined) hostComplete = false;
      if (state?.ok) host[entry.name] = state.facts;
      else if (state?.ok === false) hostErrors.push(`${String(entry.name)}: ${state.error ?? ""}`);
    }
    return [...this.watched.entries()].map(([key, { target }]) => {
      const facts: Partial<F> = { ...host };
      const errors = [...hostErrors];
      let complete = hostComplete;
      for (const entry of this.entries) {
        if (entry.collector.scope !== "user") continue;
        const state = entry.slots.get(key)?.state;
        if (state?.ok === undefined) complete = false;
        if (state?.ok) facts[entry.name] = state.facts;
        else if (state?.ok === false) errors.push(`${String(entry.name)}: ${state.error ?? ""}`);
      }
      return { target, facts, complete, errors };
    });
  }

  /** Resolves the targets (shared by cycles that start together), then runs `group` on them. */
  private async cycle(group: readonly Entry<F, keyof F>[]): Promise<void> {
    const cycle = new Cycle(this.options.targets.wants);
    this.resolving ??= this.resolveTargets(cycle).finally(() => (this.resolving = undefined));
    await this.resolving;
    if (this.stopped) return;
    const runs: Promise<void>[] = [];
    for (const entry of group) {
      entry.cycleAt = Date.now();
      if (entry.collector.scope === "host") runs.push(this.run(entry, hostKey, undefined, cycle));
    }
    const perUser = group.filter((entry) => entry.collector.scope === "user");
    const queue = perUser.length > 0 ? [...this.watched.entries()] : [];
    // A few users at a time, each with all its collectors at once, and the event loop let in
    // between users: a cycle of 1,000 users run all at once resolved as one chain of microtasks
    // that kept scrapes waiting for seconds. A user whose runs are still going after handOffMs
    // (waiting on a socket: a hung dockerd costs two rpc timeouts) is left to finish and record
    // on their own, and the worker takes the next user: nine hung users held all eight workers
    // and kept everyone behind them waiting. Users left running are bounded in number.
    const left = new Set<Promise<void>>();
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const [key, watched] = next;
        // Gone (or replaced) since this cycle began: a newer cycle retired them.
        if (this.watched.get(key) !== watched) continue;
        const user = Promise.all(perUser.map((entry) => this.run(entry, key, watched, cycle)));
        let timer: NodeJS.Timeout | undefined;
        const slow = await Promise.race([
          user.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), handOffMs))),
        ]);
        clearTimeout(timer);
        if (slow) {
          // run() records its own failures and never rejects.
          const gone = (): void => void left.delete(ends);
          const ends: Promise<void> = user.then(gone, gone);
          left.add(ends);
          while (left.size >= usersLeftAtOnce) await Promise.race(left);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    // Counted first: each worker takes its first user from the queue as it starts.
    const workers = Math.min(usersAtOnce, queue.length);
    for (let i = 0; i < workers; i++) runs.push(worker());
    await Promise.all(runs);
    // The cycle (and `check`) ends when every user's runs have.
    while (left.size > 0) await Promise.all(left);
  }

  private async resolveTargets(cycle: Cycle): Promise<void> {
    let targets: readonly Target[];
    try {
      targets = await this.options.targets.resolve(cycle, this.options.host);
    } catch (err) {
      // Keep watching whom we watched: a passwd that cannot be read now is no reason to forget.
      this.resolveError = describe(err);
      this.options.log.warn({ err: this.resolveError }, "cannot resolve the users to watch");
      return;
    }
    this.resolveError = undefined;
    const keys = new Set(targets.map(targetKey));
    for (const [key, watched] of this.watched) {
      if (keys.has(key)) continue;
      // Gone (deleted, or no longer a candidate): every series of the user goes at once.
      watched.state.stop();
      this.watched.delete(key);
      for (const entry of this.entries) {
        const slot = entry.slots.get(key);
        if (!slot) continue;
        slot.controller?.abort();
        entry.retiredErrors += slot.state.errorsTotal;
        entry.retiredRuns += slot.state.runs;
        entry.slots.delete(key);
      }
      this.options.log.info({ user: watched.target.name }, "user no longer watched");
    }
    for (const target of targets) {
      const key = targetKey(target);
      const known = this.watched.get(key);
      const sameIds =
        known !== undefined &&
        known.target.gid === target.gid &&
        known.target.groups.join(",") === target.groups.join(",");
      if (known && sameIds) {
        // Same user; the runtime dir may have moved with their rootlesskit.
        if (known.target.runtimeDir !== target.runtimeDir)
          this.watched.set(key, { ...known, target });
        continue;
      }
      // New, or their gid or groups changed: connections made with the old ids are dropped.
      known?.state.stop();
      const self = target.uid === this.options.selfUid;
      const credentials = self ? undefined : target;
      this.watched.set(key, { target, state: new TargetState(credentials) });
      if (!known) this.options.log.info({ user: target.name, uid: target.uid }, "watching user");
    }
    this.options.onChange?.();
  }

  private slot<K extends keyof F>(entry: Entry<F, K>, key: string, target?: Target): Slot<F[K]> {
    let slot = entry.slots.get(key);
    if (!slot) {
      slot = {
        collector: entry.collector,
        target,
        state: emptyState(),
        inflight: undefined,
        controller: undefined,
        startedAt: 0,
        notes: new Set(),
        logger: undefined,
      };
      entry.slots.set(key, slot);
    }
    return slot;
  }

  private async run<K extends keyof F>(
    entry: Entry<F, K>,
    key: string,
    watched: Watched | undefined,
    cycle: Cycle,
  ): Promise<void> {
    const slot = this.slot(entry, key, watched?.target);
    const log = (): Logger => this.logOf(entry, slot);
    if (slot.inflight) {
      // The previous run is still going (or was abandoned and has not given up yet): never overlap.
      log().debug("skipping run: previous run still in progress");
      // Still hanging: its duration is how long it has hung so far, not 0.
      if (slot.state.error !== undefined)
        this.record(
          entry,
          key,
          slot,
          undefined,
          slot.state.error,
          performance.now() - slot.startedAt,
        );
      return;
    }
    // The signal is made when a collector first asks for it: most runs of idle users never do,
    // and an AbortController per run was a tenth of host mode's cycle (bench/host-mode.mjs).
    slot.controller = undefined;
    const signal = (): AbortSignal => (slot.controller ??= new AbortController()).signal;
    const abort = (): void => slot.controller?.abort();
    const notes = new Set<string>();
    const started = performance.now();
    slot.startedAt = started;
    const base = {
      roots: this.options.roots,
      note: (message: string) => notes.add(message),
      info: (message: string, fields: Readonly<Record<string, unknown>>) =>
        log().info(fields, message),
      env: this.options.env,
      rpcTimeoutMs: this.options.rpcTimeoutMs,
      option: (name: string) => this.option(entry.collector, name),
      cycle,
      host: this.options.host,
    };
    let work: Promise<F[K]>;
    try {
      work =
        entry.collector.scope === "host"
          ? entry.collector.collect({
              ...base,
              get signal() {
                return signal();
              },
              targets: this.targets(),
            } satisfies HostContext)
          : watched
            ? entry.collector.collect({
                ...base,
                get signal() {
                  return signal();
                },
                target: watched.target,
                state: watched.state,
                self: watched.target.uid === this.options.selfUid,
              } satisfies UserContext)
            : Promise.reject(new Error("a user collector run without a user"));
    } catch (err) {
      work = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    slot.inflight = work;
    void work
      .catch(() => undefined)
      .finally(() => {
        if (slot.inflight === work) slot.inflight = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = Math.max(
      this.options.timeoutMs,
      entry.collector.runTimeoutMs?.((name) => this.option(entry.collector, name)) ?? 0,
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RunTimeout()), timeoutMs);
    });
    try {
      const facts = await Promise.race([work, timeout]);
      if (this.options.log.isLevelEnabled("debug"))
        for (const note of notes)
          if (!slot.notes.has(note)) log().debug({ note }, "expected condition");
      slot.notes = notes;
      this.record(entry, key, slot, facts, undefined, performance.now() - started);
    } catch (err) {
      const message =
        err instanceof RunTimeout
          ? `run abandoned after the ${timeoutMs} ms timeout`
          : describe(err);
      if (err instanceof RunTimeout) abort();
      this.record(entry, key, slot, undefined, message, performance.now() - started);
    } finally {
      clearTimeout(timer);
    }
  }

  private logOf<K extends keyof F>(entry: Entry<F, K>, slot: Slot<F[K]>): Logger {
    const fields = slot.target
      ? { collector: String(entry.name), user: slot.target.name }
      : { collector: String(entry.name) };
    return (slot.logger ??= this.options.log.child(fields));
  }

  /** A collector-declared option: its flag's value, or its default. */
  private option(collector: Collector<unknown>, name: string): string {
    const declared = collector.options?.find((o) => o.name === name);
    const flag = declared?.flag ?? `collector.${collector.name}.${name}`;
    return this.options.collectorOptions[flag] ?? declared?.defaultValue ?? "";
  }

  private record<K extends keyof F>(
    entry: Entry<F, K>,
    key: string,
    slot: Slot<F[K]>,
    facts: F[K] | undefined,
    error: string | undefined,
    durationMs: number,
  ): void {
    if (this.stopped && error !== undefined) return;
    // A user who went away while the run was going: nothing of theirs is kept.
    if (entry.slots.get(key) !== slot) return;
    const previous = slot.state;
    const now = Date.now();
    const ok = error === undefined;
    if (!ok && error !== previous.error)
      this.logOf(entry, slot).warn({ err: error }, "collector failed");
    if (ok && previous.ok === false) this.logOf(entry, slot).info("collector recovered");
    slot.state = {
      facts: ok ? facts : undefined,
      ok,
      error,
      lastRunAt: now,
      durationSeconds: durationMs / 1000,
      lastSuccessAt: ok ? now : previous.lastSuccessAt,
      errorsTotal: previous.errorsTotal + (ok ? 0 : 1),
      runs: previous.runs + 1,
    };
    this.options.onChange?.();
  }
}

function summarize<F>(entry: Entry<F, keyof F>): CollectorState {
  const states = [...entry.slots.values()].map((slot) => slot.state);
  const ran = states.filter((s) => s.ok !== undefined);
  const failed = [...entry.slots.values()].filter((slot) => slot.state.ok === false);
  const base = {
    name: String(entry.name),
    scope: entry.collector.scope,
    intervalSeconds: entry.setting.intervalSeconds,
    errorsTotal: entry.retiredErrors + states.reduce((sum, s) => sum + s.errorsTotal, 0),
    runs: entry.retiredRuns + states.reduce((sum, s) => sum + s.runs, 0),
  };
  // A user collector with nobody to watch has nothing to fail at: its cycle succeeded.
  if (ran.length === 0) {
    const idle =
      entry.cycleAt !== undefined && entry.collector.scope === "user" && states.length === 0;
    return {
      ...base,
      ok: idle ? true : undefined,
      error: undefined,
      lastRunAt: idle ? entry.cycleAt : undefined,
      durationSeconds: idle ? 0 : undefined,
      lastSuccessAt: idle ? entry.cycleAt : undefined,
    };
  }
  const successes = ran.map((s) => s.lastSuccessAt).filter((t): t is number => t !== undefined);
  return {
    ...base,
    ok: failed.length === 0,
    error:
      failed.length === 0
        ? undefined
        : [
            ...failed
              .slice(0, 5)
              .map((slot) =>
                slot.target
                  ? `${slot.target.name}: ${slot.state.error ?? ""}`
                  : (slot.state.error ?? ""),
              ),
            ...(failed.length > 5 ? [`and ${failed.length - 5} more users`] : []),
          ].join("; "),
    lastRunAt: Math.max(...ran.map((s) => s.lastRunAt ?? 0)),
    durationSeconds: Math.max(...ran.map((s) => s.durationSeconds ?? 0)),
    // A user whose runs never succeeded makes the collector as stale as can be: no success time.
    lastSuccessAt: successes.length === ran.length ? Math.min(...successes) : undefined,
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
