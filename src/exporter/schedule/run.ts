import type { Logger } from "pino";

/** A run in progress, also after it was abandoned for its timeout, until its work settles. */
export interface Inflight {
  /** Made when the collector first asks for its signal. */
  controller: AbortController | undefined;
  /** When it started (performance.now()). */
  readonly startedAt: number;
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

export interface RunSpec<F> {
  readonly running: Running;
  readonly timeoutMs: number;
  /** The error of the previous run, if it failed: a run still hanging repeats it. */
  readonly previousError: string | undefined;
  readonly log: () => Logger;
  /** Whether debug lines are wanted (asked of the parent: a slot's logger is made on first use). */
  readonly debug: () => boolean;
  /**
   * A timeout shared by runs that start together (a user's collectors in one cycle): rejects
   * with a RunTimeout at its end. One timer for them all instead of one each (runTimer).
   */
  readonly deadline?: Promise<never>;
  /** Starts the collector with its signal (made when first asked for) and its note sink. */
  readonly start: (signal: () => AbortSignal, note: (message: string) => void) => Promise<F>;
}

class RunTimeout extends Error {}

/**
 * A run timeout for runs that start together, and its clearing: `deadline` rejects after
 * `timeoutMs` unless `clear` was called first. Nothing waits on it but the runs' races.
 */
export function runTimer(timeoutMs: number): { deadline: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RunTimeout()), timeoutMs);
  });
  deadline.catch(() => undefined);
  return { deadline, clear: () => clearTimeout(timer) };
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs one collector under its timeout, never two at once on one slot. Undefined when the
 * previous run is still going and had not failed: nothing to record then.
 */
export async function runOnce<F>(spec: RunSpec<F>): Promise<Outcome<F> | undefined> {
  const { running: slot, log } = spec;
  if (slot.inflight) {
    // The previous run is still going (or was abandoned and has not given up yet): never overlap.
    log().debug("skipping run: previous run still in progress");
    // Still hanging: its duration is how long it has hung so far, not 0.
    if (spec.previousError === undefined) return undefined;
    const durationMs = performance.now() - slot.inflight.startedAt;
    return { facts: undefined, error: spec.previousError, durationMs };
  }
  // The signal is made when a collector first asks for it: most runs of idle users never do,
  // and an AbortController per run was a tenth of host mode's cycle (bench/host-mode.mjs).
  const started = performance.now();
  const inflight: Inflight = { controller: undefined, startedAt: started };
  slot.inflight = inflight;
  const signal = (): AbortSignal => (inflight.controller ??= new AbortController()).signal;
  // Made on the first note: most runs (reused ones) say none.
  let notes: Set<string> | undefined;
  let work: Promise<F>;
  try {
    work = spec.start(signal, (message) => void (notes ??= new Set()).add(message));
  } catch (err) {
    work = Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  // Nothing left to abort once settled: an AbortController kept per slot was ~25 MiB at 10,000
  // users; the run's object goes with it.
  const settled = (): void => {
    if (slot.inflight === inflight) slot.inflight = undefined;
  };
  work.then(settled, settled);
  // The shared deadline is cleared by whoever made it; a run's own timer by the run.
  let own: ReturnType<typeof runTimer> | undefined;
  const deadline = spec.deadline ?? (own = runTimer(spec.timeoutMs)).deadline;
  try {
    const facts = await Promise.race([work, deadline]);
    const debug = notes !== undefined && spec.debug();
    if (debug)
      for (const note of notes ?? noNotes)
        if (!slot.notes.has(note)) log().debug({ note }, "expected condition");
    // Kept only to log a note once: without debug lines nothing reads them.
    slot.notes = debug && notes !== undefined ? notes : noNotes;
    return { facts, error: undefined, durationMs: performance.now() - started };
  } catch (err) {
    const timedOut = err instanceof RunTimeout;
    if (timedOut) inflight.controller?.abort();
    const error = timedOut ? `run abandoned after the ${spec.timeoutMs} ms timeout` : describe(err);
    return { facts: undefined, error, durationMs: performance.now() - started };
  } finally {
    own?.clear();
  }
}
