import type { Logger } from "pino";

/** A run in progress, also after it was abandoned for its timeout, until its work settles. */
export interface Inflight {
  /** Made when the collector first asks for its signal. */
  controller: AbortController | undefined;
  /** When it started (performance.now()). */
  readonly startedAt: number;
  /** Ended by its timeout, its work still going. */
  readonly abandoned: boolean;
}

/**
 * What a run leaves on its slot between runs: one run at a time, its signal, its notes. The run
 * in progress is one object made per run and dropped when it settles: an idle slot keeps no
 * promise, controller or start time (~48 bytes a slot, 80,000 slots at 10,000 users).
 */
export interface Running {
  inflight: Inflight | undefined;
  /** The last run's notes, kept only while debug lines are wanted (noNotes otherwise). */
  notes: ReadonlySet<string>;
}

/** No notes: one empty set for every slot (a set per slot was ~25 MiB at 10,000 users). */
export const noNotes: ReadonlySet<string> = new Set<string>();

/** How one run ended: facts, or an error; its duration either way. */
export interface Outcome<F> {
  readonly facts: F | undefined;
  readonly error: string | undefined;
  readonly durationMs: number;
}

/** What the runs of one collector share, made once per collector (not per run). */
export interface RunOwner<F, S extends Running> {
  /** The logger of a slot (made on first use). */
  log(slot: S): Logger;
  /** Whether debug lines are wanted (asked of the parent: a slot's logger is made on first use). */
  debug(): boolean;
  /** Records a run's outcome on its slot. */
  finish(slot: S, key: string, outcome: Outcome<F>): void;
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs that start together (a user's collectors in one cycle): one timer for each timeout they
 * have (not one each), and one promise for the end of the last. A run ends when it is recorded
 * (its facts, its error, or its timeout); an abandoned run's work may go on after that.
 */
/** What a group's timer ends: a run not recorded by then. */
interface Expiring {
  readonly timeoutMs: number;
  readonly startedAt: number;
  readonly ended: boolean;
  expire(): void;
}

export class RunGroup {
  private readonly runs: Expiring[] = [];
  private open = 0;
  private sealed = false;
  /** The timers, one per distinct timeout (mostly one: every collector has the default). */
  private timers: { readonly ms: number; readonly timer: NodeJS.Timeout }[] | undefined;
  private done: Promise<void> | undefined;
  private resolve: (() => void) | undefined;

  /** A run started in the group, abandoned after `timeoutMs` unless it ended before. */
  add(run: Expiring): void {
    this.runs.push(run);
    this.open++;
    const ms = run.timeoutMs;
    if (this.timers) for (const t of this.timers) if (t.ms === ms) return;
    const timer = setTimeout(() => this.expire(ms), ms);
    (this.timers ??= []).push({ ms, timer });
  }

  /** Told by each run as it ends. */
  runEnded(): void {
    this.open--;
    if (this.sealed && this.open === 0) this.close();
  }

  /** Every run is added: the timers go as soon as the last run has ended. */
  seal(): this {
    this.sealed = true;
    if (this.open === 0) this.close();
    return this;
  }

  /** Every run added has ended (recorded, skipped, or abandoned at its timeout). */
  get over(): boolean {
    return this.sealed && this.open === 0;
  }

  /** Resolves when every run has ended (made only when asked: most users end within a turn). */
  ended(): Promise<void> {
    if (this.over) return Promise.resolve();
    return (this.done ??= new Promise<void>((resolve) => (this.resolve = resolve)));
  }

  /**
   * Ends the runs of this timeout whose own time is up. A run that started later than the timer
   * (after a collector's synchronous start held the event loop) keeps the rest of its own time:
   * the timer is set again for the earliest of those.
   */
  private expire(ms: number): void {
    const now = performance.now();
    let rest = Infinity;
    for (const run of this.runs) {
      if (run.timeoutMs !== ms || run.ended) continue;
      const left = run.startedAt + ms - now;
      if (left >= 1) rest = Math.min(rest, left);
      else run.expire();
    }
    if (!this.timers || rest === Infinity) return;
    const at = this.timers.findIndex((t) => t.ms === ms);
    if (at >= 0) this.timers[at] = { ms, timer: setTimeout(() => this.expire(ms), rest) };
  }

  private close(): void {
    if (this.timers) for (const { timer } of this.timers) clearTimeout(timer);
    this.timers = undefined;
    this.resolve?.();
  }
}

/**
 * One run of one collector on one slot, from its start to its record: the slot's in-flight
 * record, its signal (made when first asked for), its notes, its timeout. The outcome is recorded
 * by whichever comes first, the work's end or the group's timer for `timeoutMs`; the slot stays
 * busy (no second run on it) until the work has settled, also after a timeout.
 */
export class Run<F, S extends Running> implements Inflight {
  controller: AbortController | undefined = undefined;
  readonly startedAt = performance.now();
  /** Made on the first note: most runs (reused ones) say none. */
  private notes: Set<string> | undefined = undefined;
  private noteSink: ((message: string) => void) | undefined = undefined;
  private infoSink:
    ((message: string, fields: Readonly<Record<string, unknown>>) => void) | undefined = undefined;
  /** Recorded: its facts, error or timeout. */
  ended = false;
  abandoned = false;

  private constructor(
    private readonly owner: RunOwner<F, S>,
    private readonly slot: S,
    private readonly key: string,
    readonly timeoutMs: number,
    private readonly group: RunGroup,
  ) {}

  /**
   * Starts a run on `slot` in `group`, or none when the previous run is still going (or was
   * abandoned and has not given up yet): never two at once on a slot. A previous run abandoned at
   * its timeout that still hangs is recorded again as failed, its duration how long it has hung
   * so far (a run that is merely still going after an earlier failure repeats nothing).
   */
  static start<F, S extends Running>(
    owner: RunOwner<F, S>,
    slot: S,
    key: string,
    previousError: string | undefined,
    timeoutMs: number,
    group: RunGroup,
  ): Run<F, S> | undefined {
    const previous = slot.inflight;
    if (previous) {
      owner.log(slot).debug("skipping run: previous run still in progress");
      if (previousError !== undefined && previous.abandoned) {
        const durationMs = performance.now() - previous.startedAt;
        owner.finish(slot, key, { facts: undefined, error: previousError, durationMs });
      }
      return undefined;
    }
    const run = new Run(owner, slot, key, timeoutMs, group);
    slot.inflight = run;
    group.add(run);
    return run;
  }

  /** The run's abort signal, made when first asked for (most runs never ask). */
  signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /**
   * Where the collector says an expected condition (one function a run, made on first use). Notes
   * are kept only for debug lines: without them nothing reads them, and none is kept.
   */
  get note(): (message: string) => void {
    return (this.noteSink ??= (message) => {
      if (this.owner.debug()) (this.notes ??= new Set()).add(message);
    });
  }

  /** Where the collector logs a measurement at info (one function a run, made on first use). */
  get info(): (message: string, fields: Readonly<Record<string, unknown>>) => void {
    return (this.infoSink ??= (message, fields) => this.owner.log(this.slot).info(fields, message));
  }

  /** The run's work: its outcome is recorded when it settles, unless the timeout came first. */
  watch(work: Promise<F>): void {
    work.then(
      (facts) => this.succeed(facts),
      (err: unknown) => this.fail(err),
    );
  }

  /** The work ended with facts. */
  succeed(facts: F): void {
    this.settled();
    if (this.ended) return;
    const { slot, notes } = this;
    const debug = notes !== undefined && this.owner.debug();
    if (debug)
      for (const note of notes)
        if (!slot.notes.has(note)) this.owner.log(slot).debug({ note }, "expected condition");
    // Kept only to log a note once: without debug lines nothing reads them.
    slot.notes = debug && notes !== undefined ? notes : noNotes;
    this.end(facts, undefined);
  }

  /** The work failed (or could not start). */
  fail(err: unknown): void {
    this.settled();
    if (!this.ended) this.end(undefined, describe(err));
  }

  /** The group's timer for this run's timeout: abandoned unless it ended, its signal aborted. */
  expire(): void {
    if (this.ended) return;
    this.abandoned = true;
    // Made aborted if not asked for yet: work that asks for it later (after a late key) stops.
    (this.controller ??= new AbortController()).abort();
    this.end(undefined, `run abandoned after the ${this.timeoutMs} ms timeout`);
  }

  /** Nothing left to abort once the work settled: the slot may run again. */
  private settled(): void {
    if (this.slot.inflight === this) this.slot.inflight = undefined;
  }

  private end(facts: F | undefined, error: string | undefined): void {
    this.ended = true;
    const durationMs = performance.now() - this.startedAt;
    try {
      this.owner.finish(this.slot, this.key, { facts, error, durationMs });
    } finally {
      this.group.runEnded();
    }
  }
}
