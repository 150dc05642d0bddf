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
  const runs: UserRun[] = [];
  for (const entry of entries) {
    if (entry.collector.scope !== "user") continue;
    let done = 0;
    for (const slot of entry.slots.values()) {
      if (slot.target && slot.state.ok !== undefined)
        runs.push({ collector: String(entry.name), user: slot.target.name, ok: slot.state.ok });
      if (++done % itemsPerStep === 0) yield;
    }
  }
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
): TargetView<F>[] {
  return atOnce(targetViewSteps(entries, watched));
}

/**
 * targetViews in steps of a few hundred users, for a sliced rendering: 10,000 users' views at
 * once held the event loop for 210 ms. Each view is taken at one moment; runs that end between
 * two steps show in the users after them (the next rendering has them all).
 */
export function* targetViewSteps<F>(
  entries: Entries<F>,
  watched: ReadonlyMap<string, Watched>,
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
    const facts: Partial<F> = { ...host };
    const errors = [...hostErrors];
    let userComplete = complete;
    for (const entry of entries) {
      if (entry.collector.scope !== "user") continue;
      const state = entry.slots.get(key)?.state;
      if (state?.ok === undefined) userComplete = false;
      if (state?.ok) facts[entry.name] = state.facts;
      else if (state?.ok === false) errors.push(`${String(entry.name)}: ${state.error ?? ""}`);
    }
    views.push({ target, facts, complete: userComplete, errors });
    if (views.length % itemsPerStep === 0) yield;
  }
  return views;
}
