import type { Target } from "../../host/target.js";
import { atOnce, itemsPerStep } from "../render/slices.js";
import type { Entry } from "./ledger.js";
import { hostKey } from "./ledger.js";
import type { Watched } from "./roster.js";

/** What one watched user looks like now: every collector's latest good facts about them. */
export interface TargetView<F> {
  readonly target: Target;
  readonly facts: Partial<F>;
  /** Every enabled collector has reported on this user (and the host) at least once. */
  readonly complete: boolean;
  /** "collector: error" of the collectors whose last run for this user (or the host) failed. */
  readonly errors: readonly string[];
}

type Entries<F> = readonly Entry<F, keyof F>[];

/** The errors of a view with none, one list for every such view. */
const noErrors: readonly string[] = Object.freeze([]);

export interface UserRun {
  readonly collector: string;
  readonly user: string;
  readonly ok: boolean;
}

/** The last outcome of each user collector for each user. */
export function userRuns<F>(entries: Entries<F>): UserRun[] {
  return atOnce(userRunSteps(entries));
}

/** userRuns in steps of a few hundred runs (90,000 at 10,000 users), for a sliced rendering. */
export function* userRunSteps<F>(entries: Entries<F>): Generator<void, UserRun[]> {
  // Made at the number of slots, not grown by push: its copies as it grew were ~0.3 MiB of
  // garbage a rendering at 1,000 users (bench/render-garbage.mjs), and they live through the
  // rendering's slices into the old generation. Slots added between steps are appended.
  let slots = 0;
  for (const entry of entries) if (entry.collector.scope === "user") slots += entry.slots.size;
  const runs = new Array<UserRun>(slots);
  let count = 0;
  for (const entry of entries) {
    if (entry.collector.scope !== "user") continue;
    const collector = String(entry.name);
    // A collector's slots in one step, by forEach: for...of over the Map in this generator made
    // an iterator result a slot (~0.3 MiB a rendering at 1,000 users). 10,000 slots are ~1 ms.
    entry.slots.forEach((slot) => {
      if (slot.target && slot.state.ok !== undefined)
        runs[count++] = { collector, user: slot.target.name, ok: slot.state.ok };
    });
    yield;
  }
  runs.length = count;
  return runs;
}

/** Every host collector has reported at least once. */
export function hostComplete<F>(entries: Entries<F>): boolean {
  return entries.every(
    (entry) => entry.collector.scope !== "host" || entry.slots.get(hostKey)?.state.ok !== undefined,
  );
}

/** The latest good facts of the host collectors. */
export function hostFacts<F>(entries: Entries<F>): Partial<F> {
  const facts: Partial<F> = {};
  for (const entry of entries) {
    const state = entry.collector.scope === "host" ? entry.slots.get(hostKey)?.state : undefined;
    if (state?.ok) facts[entry.name] = state.facts;
  }
  return facts;
}

/** Each watched user with the latest facts of every collector about them and the host. */
export function targetViews<F>(
  entries: Entries<F>,
  watched: ReadonlyMap<string, Watched>,
  last?: Map<string, TargetView<F>>,
): TargetView<F>[] {
  return atOnce(targetViewSteps(entries, watched, last));
}

/**
 * targetViews in steps of a few hundred users, for a sliced rendering: 10,000 users' views at
 * once held the event loop for 210 ms. Each view is taken at one moment; runs that end between
 * two steps show in the users after them (the next rendering has them all).
 *
 * `last`, the views given last time by user key (the caller's to keep): a user whose view would
 * be equal to the last one (the same target, completeness, facts objects and errors) gets that
 * object again, so a rendering where few users changed makes few views (at 1,000 users they were
 * ~2.5 MiB of garbage a rendering), and a renderer keyed by the view's parts sees them unchanged.
 */
export function* targetViewSteps<F>(
  entries: Entries<F>,
  watched: ReadonlyMap<string, Watched>,
  last?: Map<string, TargetView<F>>,
): Generator<void, TargetView<F>[]> {
  const host: Partial<F> = {};
  const hostErrors: string[] = [];
  let complete = true;
  for (const entry of entries) {
    if (entry.collector.scope !== "host") continue;
    const state = entry.slots.get(hostKey)?.state;
    if (state?.ok === undefined) complete = false;
    if (state?.ok) host[entry.name] = state.facts;
    else if (state?.ok === false) hostErrors.push(`${String(entry.name)}: ${state.error ?? ""}`);
  }
  const views: TargetView<F>[] = [];
  for (const [key, { target }] of watched) {
    const known = last?.get(key);
    if (known !== undefined && sameView(known, target, key, entries, hostErrors, complete)) {
      views.push(known);
      if (views.length % itemsPerStep === 0) yield;
      continue;
    }
    // Made from {} a key at a time in the entries' order, not by a spread of the host's facts:
    // V8 gave each spread copy a hidden class of its own (and one more per key added after it),
    // ~10,000 maps at 10,000 users; added in the same order, the objects share theirs.
    const facts: Partial<F> = {};
    for (const entry of entries)
      if (Object.hasOwn(host, entry.name)) facts[entry.name] = host[entry.name];
    let errors: string[] | undefined;
    let userComplete = complete;
    for (const entry of entries) {
      if (entry.collector.scope !== "user") continue;
      const state = entry.slots.get(key)?.state;
      if (state?.ok === undefined) userComplete = false;
      if (state?.ok) facts[entry.name] = state.facts;
      else if (state?.ok === false)
        (errors ??= [...hostErrors]).push(`${String(entry.name)}: ${state.error ?? ""}`);
    }
    // Most users have no error: one empty list for all of them (views are never changed).
    const view = {
      target,
      facts,
      complete: userComplete,
      errors: errors ?? (hostErrors.length === 0 ? noErrors : [...hostErrors]),
    };
    last?.set(key, view);
    views.push(view);
    if (views.length % itemsPerStep === 0) yield;
  }
  // Users no longer watched (every watched key is in `last`, so a bigger `last` holds others).
  if (last && last.size > watched.size)
    for (const key of last.keys()) if (!watched.has(key)) last.delete(key);
  return views;
}

/**
 * Whether the view targetViewSteps would make for `key` now is equal to `known`, with no
 * allocation: the same target, each collector's facts object present exactly when its last run
 * succeeded (so the same keys in the same order), the same errors, the same completeness.
 */
function sameView<F>(
  known: TargetView<F>,
  target: Target,
  key: string,
  entries: Entries<F>,
  hostErrors: readonly string[],
  hostComplete: boolean,
): boolean {
  if (known.target !== target) return false;
  const facts = known.facts as Readonly<Record<PropertyKey, unknown>>;
  const { errors } = known;
  for (let i = 0; i < hostErrors.length; i++) if (errors[i] !== hostErrors[i]) return false;
  let error = hostErrors.length;
  let complete = hostComplete;
  for (const entry of entries) {
    const host = entry.collector.scope === "host";
    const state = entry.slots.get(host ? hostKey : key)?.state;
    if (state?.ok === undefined && !host) complete = false;
    const name = entry.name as PropertyKey;
    if (state?.ok) {
      if (!(name in facts) || facts[name] !== state.facts) return false;
    } else if (name in facts) return false;
    if (state?.ok === false && !host && !isError(errors[error++], String(name), state.error ?? ""))
      return false;
  }
  return complete === known.complete && error === errors.length;
}

/** `text` is `${name}: ${error}`, compared without making that string. */
function isError(text: string | undefined, name: string, error: string): boolean {
  return (
    text !== undefined &&
    text.length === name.length + 2 + error.length &&
    text.startsWith(name) &&
    text.startsWith(": ", name.length) &&
    text.endsWith(error)
  );
}
