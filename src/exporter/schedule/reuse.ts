import * as crypto from "node:crypto";
import type { UserCollector, UserContext } from "../../collectors/collector.js";
import type { Reuse, RunState } from "./ledger.js";

/*
 * Reuse of a user collector's last facts (issue 19, docs/architecture.md "Reuse"): a collector
 * that declares `inputs` gives a key of what decides its facts; when this cycle's key equals the
 * key taken before the last successful full run, that run's facts object is served again, so the
 * renderer reuses its bytes. A bound forces a full run now and then whatever the key says, so a
 * change the key missed heals.
 */

/** What a slot keeps of a key: its digest (a key names paths and ids, ~0.4 KB; kept per slot). */
function digest(key: string): string {
  return oneShot
    ? oneShot("sha256", key, "base64")
    : crypto.createHash("sha256").update(key).digest("base64");
}

/** crypto.hash (Node 20.12+): no Hash object a run; the same digest. */
const oneShot = (crypto as Partial<typeof crypto>).hash;

/** At most this many reuses in a row: a full run at least every (maxReusedRuns + 1) runs. */
export const maxReusedRuns = 19;
/** --collect.reuse-max-age's default: a full run at least every 5 minutes. */
export const defaultReuseMaxAgeMs = 5 * 60_000;

/** What a run of one slot reads and keeps for reuse. */
export interface ReuseSlot<F> {
  reuse: Reuse | undefined;
  readonly state: RunState<F>;
  readonly notes: ReadonlySet<string>;
}

/**
 * The facts of one run of a user collector: the last run's (the same object) when its inputs
 * did not change and the bound allows, else a full collection. `maxAgeMs` 0 turns reuse off.
 */
export async function collectOrReuse<F>(
  collector: UserCollector<F>,
  ctx: UserContext,
  slot: ReuseSlot<F>,
  maxAgeMs: number,
): Promise<F> {
  if (!collector.inputs || maxAgeMs <= 0) return collector.collect(ctx);
  // Taken before the collection: a change after it makes the next key differ.
  const startedAt = performance.now();
  const taken = await collector.inputs(ctx, false);
  const key = taken === undefined ? undefined : digest(taken);
  const last = slot.reuse;
  const facts = slot.state.facts;
  if (
    key !== undefined &&
    last !== undefined &&
    last.key === key &&
    slot.state.ok === true &&
    facts !== undefined &&
    last.reused < maxReusedRuns &&
    startedAt - last.fullAt < maxAgeMs
  ) {
    last.reused += 1;
    // The full run's expected conditions still hold: said again, so they are not logged anew
    // (no iterator made for the empty set most slots keep).
    if (slot.notes.size > 0) for (const note of slot.notes) ctx.note(note);
    // The static part served again; the live part (counters, API answers) re-read.
    return collector.refresh ? collector.refresh(ctx, facts) : facts;
  }
  slot.reuse = undefined;
  const collected = await collector.collect(ctx);
  // Kept for the next run, and used only if this run is recorded as a success (state.ok), when
  // the inputs were the same after the collection as before it: a file there at either end
  // leaves no key. One created and removed again between the two keys is not seen: its facts
  // are served until the bound (docs/security.md).
  if (key !== undefined && (await collector.inputs(ctx, true)) === taken)
    slot.reuse = { key, fullAt: startedAt, reused: 0 };
  return collected;
}
