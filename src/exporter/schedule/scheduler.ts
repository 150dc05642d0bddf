import type { Logger } from "pino";
import type { Collector } from "../../collectors/collector.js";
import type { HostState } from "../../collectors/state.js";
import { Cycle } from "../../collectors/state.js";
import type { CollectorSetting } from "../../config.js";
import type { HostRoots } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import type { CollectorState, Entry, Slot } from "./ledger.js";
import { hostKey, newEntry, record, retire, slotLog, slotOf, summarize } from "./ledger.js";
import { eachUser } from "./pool.js";
import type { TargetSource } from "../../targets/targets.js";
import type { Watched } from "./roster.js";
import { Roster } from "./roster.js";
import type { RunShared } from "./context.js";
import { HostRunContext, UserRunContext } from "./context.js";
import { collectOrReuseInto, defaultReuseMaxAgeMs } from "./reuse.js";
import type { RunOwner } from "./run.js";
import { Run, RunGroup } from "./run.js";
import type { Trigger, TriggerFactory } from "./trigger.js";
import { cronTrigger } from "./trigger.js";
import type { TargetView } from "./views.js";
import type { UserRun } from "./views.js";
import {
  hostComplete,
  hostFacts,
  targetViewSteps,
  targetViews,
  userRunSteps,
  userRuns,
} from "./views.js";

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
  /**
   * Called when a run changed what is served (its facts, or whether it succeeded) and when a
   * cycle ends (durations, counters), so renderers can drop their cache.
   */
  readonly onChange?: () => void;
  /** The uid the exporter runs as: a target with it gets the exporter's own environment. */
  readonly selfUid?: number;
  /**
   * --collect.reuse-max-age: a user collector whose inputs did not change is served its last
   * facts for at most this long (and 19 runs) before a full run; 0 turns reuse off.
   */
  readonly reuseMaxAgeMs?: number;
}

/** What every run of one collector shares: made once per collector, not per run. */
interface Runner<F, K extends keyof F> extends RunOwner<F[K], Slot<F[K]>> {
  readonly entry: Entry<F, K>;
  readonly shared: RunShared;
  readonly timeoutMs: number;
}

/**
 * Runs the collectors in cycles: the collectors sharing an interval fire together, with one
 * Cycle memo, once for the host and once per watched user, each run under its own timeout. A
 * user's slow run never holds up another user's: every run records its outcome when it ends.
 * The pieces: trigger.ts fires, roster.ts knows the users, run.ts runs one collector under its
 * timeout, ledger.ts keeps the outcomes, pool.ts spreads a cycle over the users.
 */
export class Scheduler<F> {
  private readonly entries: Entry<F, keyof F>[] = [];
  private readonly runners = new Map<Entry<F, keyof F>, Runner<F, keyof F>>();
  private readonly roster: Roster;
  private triggers: Trigger[] = [];
  private stopped = false;
  /** Resolution of the targets in progress: cycles that start together share it. */
  private resolving: Promise<void> | undefined;
  /** The last view made of each watched user, given again while equal (views.ts). */
  private readonly lastViews = new Map<string, TargetView<F>>();
  /** Whether debug lines are wanted: one function for every run (not a closure each). */
  private readonly debugWanted = (): boolean => this.options.log.isLevelEnabled("debug");

  constructor(private readonly options: SchedulerOptions<F>) {
    for (const setting of options.settings) {
      if (!setting.enabled || !(setting.name in options.collectors)) continue;
      const name = setting.name as keyof F;
      const entry = newEntry(name, options.collectors[name], setting);
      this.entries.push(entry);
      this.runners.set(entry, this.runner(entry));
    }
    this.roster = new Roster(options.targets, options.log, options.selfUid);
  }

  /** Why the last resolution of the targets failed, while it does. */
  get resolveError(): string | undefined {
    return this.roster.resolveError;
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
      for (const slot of entry.slots.values()) slot.inflight?.controller?.abort();
    this.roster.stop();
  }

  /** One cycle of every enabled collector, waited for: the `check` command. */
  async runAll(): Promise<void> {
    await this.cycle(this.entries);
  }

  /** The users watched now. */
  targets(): readonly Target[] {
    return this.roster.targets();
  }

  /** The last outcome of each user collector for each user. */
  userRuns(): UserRun[] {
    return userRuns(this.entries);
  }

  collectorStates(): CollectorState[] {
    return this.entries.map((entry) => summarize(entry));
  }

  /** collectorStates, targetViews and userRuns in small steps, for a sliced rendering. */
  *snapshotSteps(): Generator<
    void,
    { collectors: CollectorState[]; views: TargetView<F>[]; userRuns: UserRun[] }
  > {
    const collectors: CollectorState[] = [];
    for (const entry of this.entries) {
      collectors.push(summarize(entry));
      yield;
    }
    const views = yield* targetViewSteps(this.entries, this.roster.watched, this.lastViews);
    return { collectors, views, userRuns: yield* userRunSteps(this.entries) };
  }

  /** Every host collector has reported at least once. */
  hostComplete(): boolean {
    return hostComplete(this.entries);
  }

  /** The latest good facts of the host collectors. */
  hostFacts(): Partial<F> {
    return hostFacts(this.entries);
  }

  /** Each watched user with the latest facts of every collector about them and the host. */
  targetViews(): TargetView<F>[] {
    return targetViews(this.entries, this.roster.watched, this.lastViews);
  }

  /** Resolves the targets (shared by cycles that start together), then runs `group` on them. */
  private async cycle(group: readonly Entry<F, keyof F>[]): Promise<void> {
    const cycle = new Cycle(this.options.targets.wants);
    this.resolving ??= this.resolveTargets(cycle).finally(() => (this.resolving = undefined));
    await this.resolving;
    if (this.stopped) return;
    const runs: Promise<void>[] = [];
    const perUser: Runner<F, keyof F>[] = [];
    for (const entry of group) {
      entry.cycleAt = Date.now();
      const runner = this.runners.get(entry);
      if (!runner) continue;
      if (entry.collector.scope === "user") perUser.push(runner);
      else {
        const own = new RunGroup();
        this.begin(runner, hostKey, undefined, cycle, own);
        runs.push(own.seal().ended());
      }
    }
    const watched = this.roster.watched;
    const queue = perUser.length > 0 ? [...watched.entries()] : [];
    runs.push(
      eachUser(
        queue,
        // Gone (or replaced) since this cycle began: a newer cycle retired them.
        (key, user) => watched.get(key) === user,
        (key, user) => {
          // The user's runs start together: one timer for those that share a timeout.
          const together = new RunGroup();
          for (const runner of perUser) this.begin(runner, key, user, cycle, together);
          return together.seal();
        },
      ),
    );
    await Promise.all(runs);
    if (!this.stopped) this.options.onChange?.();
  }

  private async resolveTargets(cycle: Cycle): Promise<void> {
    const retireAll = (key: string): void => {
      for (const entry of this.entries) retire(entry, key);
    };
    if (await this.roster.update(cycle, this.options.host, retireAll)) this.options.onChange?.();
  }

  /** What the runs of `entry` share, and how their outcomes are recorded. */
  private runner<K extends keyof F>(entry: Entry<F, K>): Runner<F, K> {
    const { roots, env, rpcTimeoutMs, host, log } = this.options;
    const option = (name: string): string => this.option(entry.collector, name);
    const timeoutMs = Math.max(this.options.timeoutMs, entry.collector.runTimeoutMs?.(option) ?? 0);
    return {
      entry,
      shared: { roots, env, rpcTimeoutMs, option, host },
      timeoutMs,
      log: (slot) => slotLog(entry, slot, log),
      debug: this.debugWanted,
      finish: (slot, key, outcome) => {
        if (this.stopped && outcome.error !== undefined) return;
        if (record(entry, key, slot, outcome, () => slotLog(entry, slot, log)))
          this.options.onChange?.();
      },
    };
  }

  /**
   * One collector for one target (or the host) started in `group`, under its own timeout; its
   * outcome is recorded when it ends (run.ts). Nothing started when its last run still goes.
   */
  private begin<K extends keyof F>(
    runner: Runner<F, K>,
    key: string,
    watched: Watched | undefined,
    cycle: Cycle,
    group: RunGroup,
  ): void {
    const { entry } = runner;
    const slot = slotOf(entry, key, watched?.target);
    const run = Run.start(runner, slot, key, slot.state.error, runner.timeoutMs, group);
    if (!run) return;
    try {
      const { collector } = entry;
      if (collector.scope === "host")
        return run.watch(
          collector.collect(new HostRunContext(runner.shared, run, cycle, this.targets())),
        );
      if (!watched) throw new Error("a user collector run without a user");
      // A class instance: a context is made for every run (9,000 a cycle at 1,000 users).
      const self = watched.target.uid === this.options.selfUid;
      const ctx = new UserRunContext(
        runner.shared,
        run,
        cycle,
        watched.target,
        watched.state,
        self,
      );
      const maxAgeMs = this.options.reuseMaxAgeMs ?? defaultReuseMaxAgeMs;
      collectOrReuseInto(collector, ctx, slot, maxAgeMs, run);
    } catch (err) {
      run.fail(err);
    }
  }

  /** A collector-declared option: its flag's value, or its default. */
  private option(collector: Collector<unknown>, name: string): string {
    const declared = collector.options?.find((o) => o.name === name);
    const flag = declared?.flag ?? `collector.${collector.name}.${name}`;
    return this.options.collectorOptions[flag] ?? declared?.defaultValue ?? "";
  }
}
