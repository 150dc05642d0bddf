import type { Logger } from "pino";
import type { Collector } from "../../collectors/collector.js";
import type { CollectorSetting } from "../../config.js";
import type { Target } from "../../host/target.js";
import type { Outcome, Running } from "./run.js";
import { noNotes } from "./run.js";
import { sameFacts } from "./same-facts.js";
import { SharedFacts } from "./shared-facts.js";

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

/**
 * One collector for one target: its latest outcome and its run in progress. 80,000 of them at
 * 10,000 users: nothing here that its entry has (the collector) or that only a run needs.
 */
export interface Slot<F> extends Running {
  readonly target: Target | undefined;
  /** Its latest outcome: the slot itself, written in place by record (no object per run). */
  readonly state: RunState<F>;
  /** Made on first use: thousands of idle slots need no logger of their own. */
  logger: Logger | undefined;
  /** The digest of the last full run's inputs key (reuse.ts); undefined: nothing to reuse. */
  reuseKey: string | undefined;
  /** When that key was taken: performance.now() in whole milliseconds (a small integer). */
  reuseAt: number;
  /** Runs served from it since. */
  reused: number;
}

/**
 * What few slots have (an error, failed runs, debug notes, a logger): made when one is first set,
 * so the slots that never fail keep four fields less (docs/performance.md "heap2").
 */
class Rare {
  error: string | undefined = undefined;
  errorsTotal = 0;
  notes: ReadonlySet<string> = noNotes;
  logger: Logger | undefined = undefined;
}

/**
 * A slot and its RunState in one object (a RunState of its own, replaced each run, was 88 bytes
 * and a pointer more per slot: ~2.5 MiB at 10,000 users, and one object per run). `state` is the
 * slot seen as its outcome; its fields change only in record(). The reuse key's fields are here
 * too (a `{key, fullAt, reused}` object and its heap number were ~64 bytes a slot).
 */
class LedgerSlot<F> implements Slot<F>, RunState<F> {
  facts: F | undefined = undefined;
  ok: boolean | undefined = undefined;
  lastRunAt: number | undefined = undefined;
  durationSeconds: number | undefined = undefined;
  lastSuccessAt: number | undefined = undefined;
  runs = 0;
  inflight: Running["inflight"] = undefined;
  reuseKey: string | undefined = undefined;
  reuseAt = 0;
  reused = 0;
  /** error, errorsTotal, notes and logger, made when one of them is first set. */
  private rare: Rare | undefined = undefined;

  constructor(readonly target: Target | undefined) {}

  /**
   * The slot itself, written in place by the next record: read its fields at once, never keep
   * it across a run (nothing in src does; take a copy if one is ever needed).
   */
  get state(): RunState<F> {
    return this;
  }

  get error(): string | undefined {
    return this.rare?.error;
  }
  set error(error: string | undefined) {
    if (error !== undefined || this.rare) (this.rare ??= new Rare()).error = error;
  }

  get errorsTotal(): number {
    return this.rare?.errorsTotal ?? 0;
  }
  set errorsTotal(count: number) {
    if (count !== 0 || this.rare) (this.rare ??= new Rare()).errorsTotal = count;
  }

  get notes(): ReadonlySet<string> {
    return this.rare?.notes ?? noNotes;
  }
  set notes(notes: ReadonlySet<string>) {
    if (notes !== noNotes || this.rare) (this.rare ??= new Rare()).notes = notes;
  }

  get logger(): Logger | undefined {
    return this.rare?.logger;
  }
  set logger(logger: Logger | undefined) {
    if (logger !== undefined || this.rare) (this.rare ??= new Rare()).logger = logger;
  }
}

/** One enabled collector and everything kept about it. */
export interface Entry<F, K extends keyof F> {
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
  /** Facts equal across users, kept as one object (shared-facts.ts). */
  readonly shared: SharedFacts<F[K]>;
}

export const hostKey = "";
export const targetKey = (target: Target): string => `${target.uid}\0${target.name}`;

export function newEntry<F, K extends keyof F>(
  name: K,
  collector: Collector<F[K]>,
  setting: CollectorSetting,
): Entry<F, K> {
  return {
    name,
    collector,
    setting,
    slots: new Map(),
    retiredErrors: 0,
    retiredRuns: 0,
    cycleAt: undefined,
    shared: new SharedFacts(),
  };
}

/** The slot of `key`, made empty on first use. */
export function slotOf<F, K extends keyof F>(
  entry: Entry<F, K>,
  key: string,
  target?: Target,
): Slot<F[K]> {
  let slot = entry.slots.get(key);
  if (!slot) {
    slot = new LedgerSlot<F[K]>(target);
    entry.slots.set(key, slot);
  }
  return slot;
}

/** The slot's logger, made on first use. */
export function slotLog<F, K extends keyof F>(
  entry: Entry<F, K>,
  slot: Slot<F[K]>,
  log: Logger,
): Logger {
  const fields = slot.target
    ? { collector: String(entry.name), user: slot.target.name }
    : { collector: String(entry.name) };
  return (slot.logger ??= log.child(fields));
}

/** Drops a user's slot, its run aborted and its counts kept in the entry's totals. */
export function retire<F, K extends keyof F>(entry: Entry<F, K>, key: string): void {
  const slot = entry.slots.get(key);
  if (!slot) return;
  slot.inflight?.controller?.abort();
  entry.retiredErrors += slot.state.errorsTotal;
  entry.retiredRuns += slot.state.runs;
  entry.slots.delete(key);
}

/**
 * Writes an outcome into its slot. True when what is served of it changed: its facts (a run that
 * brings equal facts keeps the previous object, so renderings can reuse what they made of it) or
 * whether it succeeded. False when nothing did, or the slot is gone (its user went away).
 */
export function record<F, K extends keyof F>(
  entry: Entry<F, K>,
  key: string,
  slot: Slot<F[K]>,
  outcome: Outcome<F[K]>,
  log: () => Logger,
): boolean {
  // A user who went away while the run was going: nothing of theirs is kept.
  if (entry.slots.get(key) !== slot) return false;
  // Every slot is slotOf's (a LedgerSlot): its outcome is written in place.
  const state = slot as LedgerSlot<F[K]>;
  const { facts, error, durationMs } = outcome;
  const now = Date.now();
  const ok = error === undefined;
  const wasOk = state.ok;
  if (!ok && error !== state.error) log().warn({ err: error }, "collector failed");
  if (ok && wasOk === false) log().info("collector recovered");
  const same = ok && wasOk === true && sameFacts(state.facts, facts);
  // Changed facts: another user's equal ones, when recorded lately, are kept instead.
  if (!same) state.facts = ok && facts !== undefined ? entry.shared.share(facts) : undefined;
  state.ok = ok;
  state.error = error;
  state.lastRunAt = now;
  state.durationSeconds = durationMs / 1000;
  if (ok) state.lastSuccessAt = now;
  if (!ok) state.errorsTotal++;
  state.runs++;
  return !same && !(wasOk === false && !ok);
}

/**
 * One collector over all its slots, in one pass with no array per call (a rendering summarizes
 * every collector: at 1,000 users the arrays were ~1.7 MiB of garbage a rendering).
 */
export function summarize<F>(entry: Entry<F, keyof F>): CollectorState {
  let count = 0;
  let errorsTotal = entry.retiredErrors;
  let runs = entry.retiredRuns;
  let ran = 0;
  let failed = 0;
  let successes = 0;
  let lastRunAt = -Infinity;
  let durationSeconds = -Infinity;
  let lastSuccessAt = Infinity;
  const errors: string[] = [];
  for (const slot of entry.slots.values()) {
    const s = slot.state;
    count++;
    errorsTotal += s.errorsTotal;
    runs += s.runs;
    if (s.ok === undefined) continue;
    ran++;
    lastRunAt = Math.max(lastRunAt, s.lastRunAt ?? 0);
    durationSeconds = Math.max(durationSeconds, s.durationSeconds ?? 0);
    if (s.lastSuccessAt !== undefined) {
      successes++;
      lastSuccessAt = Math.min(lastSuccessAt, s.lastSuccessAt);
    }
    if (s.ok) continue;
    if (++failed <= 5)
      errors.push(slot.target ? `${slot.target.name}: ${s.error ?? ""}` : (s.error ?? ""));
  }
  const base = {
    name: String(entry.name),
    scope: entry.collector.scope,
    intervalSeconds: entry.setting.intervalSeconds,
    errorsTotal,
    runs,
  };
  // A user collector with nobody to watch has nothing to fail at: its cycle succeeded.
  if (ran === 0) {
    const idle = entry.cycleAt !== undefined && entry.collector.scope === "user" && count === 0;
    return {
      ...base,
      ok: idle ? true : undefined,
      error: undefined,
      lastRunAt: idle ? entry.cycleAt : undefined,
      durationSeconds: idle ? 0 : undefined,
      lastSuccessAt: idle ? entry.cycleAt : undefined,
    };
  }
  if (failed > 5) errors.push(`and ${failed - 5} more users`);
  return {
    ...base,
    ok: failed === 0,
    error: failed === 0 ? undefined : errors.join("; "),
    lastRunAt,
    durationSeconds,
    // A user whose runs never succeeded makes the collector as stale as can be: no success time.
    lastSuccessAt: successes === ran ? lastSuccessAt : undefined,
  };
}
