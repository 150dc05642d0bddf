import * as crypto from "node:crypto";
import type { UserCollector, UserContext } from "../../collectors/collector.js";
import type { RunState } from "./ledger.js";

/*
 * Reuse of a user collector's last facts (issue 19, docs/architecture.md "Reuse"): a collector
 * that declares `inputs` gives a key of what decides its facts; when this cycle's key equals the
 * key taken before the last successful full run, that run's facts object is served again, so the
 * renderer reuses its bytes. A bound forces a full run now and then whatever the key says, so a
 * change the key missed heals.
 */

/**
 * What a slot keeps of a key: its digest (a key names paths and ids, ~0.4 KB; kept per slot), as
 * 32 one-byte characters ("binary", i.e. latin1: no base64 step, 32 characters kept instead of 44). Compared
 * with ===, never shown.
 */
function digest(key: string): string {
  return oneShot
    ? oneShot("sha256", key, "binary")
    : crypto.createHash("sha256").update(key).digest("binary");
}

/** crypto.hash (Node 20.12+): no Hash object a run; the same digest. */
const oneShot = (crypto as Partial<typeof crypto>).hash;

/** At most this many reuses in a row: a full run at least every (maxReusedRuns + 1) runs. */
export const maxReusedRuns = 19;
/** --collect.reuse-max-age's default: a full run at least every 5 minutes. */
export const defaultReuseMaxAgeMs = 5 * 60_000;

/** What a run of one slot reads and keeps for reuse (on the slot itself: ledger.ts's Slot). */
export interface ReuseSlot<F> {
  /** The digest of the last full run's inputs key; undefined when there is none to reuse. */
  reuseKey: string | undefined;
  /**
   * When the full run's key was taken: performance.now() in whole milliseconds, a small integer
   * V8 keeps in the field itself (a fraction would be a heap number a slot). Rounded down, so
   * the bound comes at most 1 ms early, never late.
   */
  reuseAt: number;
  /** Runs served from it since. */
  reused: number;
  readonly state: RunState<F>;
  readonly notes: ReadonlySet<string>;
}

/** Where a run's facts go (run.ts's Run): a promise of them, the facts, or a failure. */
export interface FactsSink<F> {
  /** When the run started (performance.now()): the key is taken right after. */
  readonly startedAt: number;
  watch(work: Promise<F>): void;
  succeed(facts: F): void;
  fail(err: unknown): void;
}

/**
 * The facts of one run of a user collector, given to `sink`: the last run's (the same object)
 * when its inputs did not change and the bound allows, else a full collection. `maxAgeMs` 0
 * turns reuse off. A reused run without `refresh` is given its facts as soon as its key is in:
 * no promise of its own beyond the key's (9,000 runs a cycle at 1,000 users, most of them
 * reused). Throws only what `collect` or `inputs` throw synchronously.
 */
export function collectOrReuseInto<F>(
  collector: UserCollector<F>,
  ctx: UserContext,
  slot: ReuseSlot<F>,
  maxAgeMs: number,
  sink: FactsSink<F>,
): void {
  if (!collector.inputs || maxAgeMs <= 0) return sink.watch(collector.collect(ctx));
  // Taken before the collection: a change after it makes the next key differ.
  collector.inputs(ctx, false).then(
    (taken) => {
      try {
        const key = taken === undefined ? undefined : digest(taken);
        const facts = reusable(slot, key, sink.startedAt, maxAgeMs);
        if (facts === undefined)
          return sink.watch(collectKeyed(collector, ctx, slot, key, taken, sink.startedAt));
        // The full run's expected conditions still hold: said again, so they are not logged anew
        // (no iterator made for the empty set most slots keep).
        if (slot.notes.size > 0) for (const note of slot.notes) ctx.note(note);
        // The static part served again; the live part (counters, API answers) re-read.
        if (collector.refresh) sink.watch(collector.refresh(ctx, facts));
        else sink.succeed(facts);
      } catch (err) {
        sink.fail(err);
      }
    },
    (err: unknown) => sink.fail(err),
  );
}

/** collectOrReuseInto's facts as a promise. */
export function collectOrReuse<F>(
  collector: UserCollector<F>,
  ctx: UserContext,
  slot: ReuseSlot<F>,
  maxAgeMs: number,
): Promise<F> {
  return new Promise<F>((resolve, reject) =>
    collectOrReuseInto(collector, ctx, slot, maxAgeMs, {
      startedAt: performance.now(),
      watch: (work) => work.then(resolve, reject),
      succeed: resolve,
      fail: reject,
    }),
  );
}

/**
 * The last run's facts when `key` is the one taken before that run, it succeeded and the bound
 * allows (counted as one more reuse); undefined otherwise, and the slot's key is dropped.
 */
function reusable<F>(
  slot: ReuseSlot<F>,
  key: string | undefined,
  startedAt: number,
  maxAgeMs: number,
): F | undefined {
  const facts = slot.state.facts;
  if (
    key !== undefined &&
    slot.reuseKey === key &&
    slot.state.ok === true &&
    facts !== undefined &&
    slot.reused < maxReusedRuns &&
    startedAt - slot.reuseAt < maxAgeMs
  ) {
    slot.reused += 1;
    return facts;
  }
  slot.reuseKey = undefined;
  return undefined;
}

/** A full collection, its key kept when its inputs were the same after it as before. */
async function collectKeyed<F>(
  collector: UserCollector<F>,
  ctx: UserContext,
  slot: ReuseSlot<F>,
  key: string | undefined,
  taken: string | undefined,
  startedAt: number,
): Promise<F> {
  const collected = await collector.collect(ctx);
  // Kept for the next run, and used only if this run is recorded as a success (state.ok), when
  // the inputs were the same after the collection as before it: a file there at either end
  // leaves no key. One created and removed again between the two keys is not seen: its facts
  // are served until the bound (docs/security.md).
  if (key !== undefined && (await collector.inputs?.(ctx, true)) === taken) {
    slot.reuseKey = key;
    slot.reuseAt = Math.floor(startedAt);
    slot.reused = 0;
  }
  return collected;
}
