import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Collector } from "../../src/collectors/collector.js";
import type { Entry } from "../../src/exporter/schedule/ledger.js";
import {
  hostKey,
  newEntry,
  record,
  slotOf,
  targetKey,
} from "../../src/exporter/schedule/ledger.js";
import type { Watched } from "../../src/exporter/schedule/roster.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import { targetViews } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice } from "../helpers/healthy-facts.js";

// heaprev: views made key by key with one shared empty error list, slots written in place: over
// random runs (successes, failures, users coming and going), each view equals the one main made
// ({ ...host } then each user collector's facts, errors host first), key order included, and an
// unchanged view is the same object.

type F = { h1: { v: number }; u1: { v: number }; h2: { v: number }; u2: { v: number } };
const log = () => pino({ level: "silent" });

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function entry(name: keyof F, scope: "host" | "user"): Entry<F, keyof F> {
  const collector = {
    name,
    scope,
    description: "",
    defaultEnabled: true,
    defaultIntervalSeconds: 1,
    collect: async () => ({ v: 0 }),
  } as unknown as Collector<F[keyof F]>;
  return newEntry<F, keyof F>(name, collector, { name, enabled: true, intervalSeconds: 1 });
}

const user = (name: string, uid: number): Target => ({ ...alice, name, uid, gid: uid });

/** The view as main made it (views.ts at a314b87). */
function mainView(entries: readonly Entry<F, keyof F>[], key: string, target: Target) {
  const host: Partial<F> = {};
  const hostErrors: string[] = [];
  let complete = true;
  for (const e of entries) {
    if (e.collector.scope !== "host") continue;
    const s = e.slots.get(hostKey)?.state;
    if (s?.ok === undefined) complete = false;
    if (s?.ok) host[e.name] = s.facts as never;
    else if (s?.ok === false) hostErrors.push(`${String(e.name)}: ${s.error ?? ""}`);
  }
  const facts: Partial<F> = { ...host };
  const errors = [...hostErrors];
  for (const e of entries) {
    if (e.collector.scope !== "user") continue;
    const s = e.slots.get(key)?.state;
    if (s?.ok === undefined) complete = false;
    if (s?.ok) facts[e.name] = s.facts as never;
    else if (s?.ok === false) errors.push(`${String(e.name)}: ${s.error ?? ""}`);
  }
  return { target, facts, complete, errors };
}

describe("heaprev: views and slots", () => {
  for (const seed of [3, 11, 2024]) {
    it(`seed ${seed}: 200 runs, each view as main made it, unchanged views kept`, () => {
      const next = random(seed);
      const entries = [
        entry("h1", "host"),
        entry("u1", "user"),
        entry("h2", "host"),
        entry("u2", "user"),
      ];
      const people = ["amy", 'b"o\nb', "cat", "dan"].map((n, i) => user(n, 7000 + i));
      const watched = new Map<string, Watched>();
      const last = new Map<string, TargetView<F>>();
      let previous = new Map<string, TargetView<F>>();
      for (let round = 0; round < 200; round++) {
        const roll = next();
        const p = people[Math.floor(next() * people.length)] as Target;
        if (roll < 0.15) {
          if (watched.has(targetKey(p))) watched.delete(targetKey(p));
          else watched.set(targetKey(p), { target: p } as Watched);
        } else {
          const e = entries[Math.floor(next() * entries.length)] as Entry<F, keyof F>;
          const key = e.collector.scope === "host" ? hostKey : targetKey(p);
          if (e.collector.scope === "user" && !watched.has(key)) continue;
          const slot = slotOf(e, key, e.collector.scope === "host" ? undefined : p);
          const fail = next() < 0.3;
          record(
            e,
            key,
            slot,
            fail
              ? { facts: undefined, error: `down ${Math.floor(next() * 2)}`, durationMs: 1 }
              : { facts: { v: Math.floor(next() * 3) }, error: undefined, durationMs: 1 },
            log,
          );
        }
        const views = targetViews(entries, watched, last);
        const now = new Map<string, TargetView<F>>();
        for (const view of views) {
          const key = targetKey(view.target);
          const expected = mainView(entries, key, view.target);
          expect(view, `round ${round}`).toEqual(expected);
          expect(Object.keys(view.facts)).toEqual(Object.keys(expected.facts));
          const before = previous.get(key);
          if (before && JSON.stringify(before) === JSON.stringify(expected))
            expect(view, `round ${round}: an unchanged view is the same object`).toBe(before);
          now.set(key, view);
        }
        previous = now;
      }
    });
  }

  it("a consumer changing one view's empty error list changes no other view's", () => {
    const entries = [entry("h1", "host"), entry("u1", "user")];
    const people = [user("amy", 7100), user("bob", 7101)];
    const watched = new Map(people.map((p) => [targetKey(p), { target: p } as Watched]));
    for (const p of people)
      record(
        entries[1] as Entry<F, keyof F>,
        targetKey(p),
        slotOf(entries[1] as Entry<F, keyof F>, targetKey(p), p),
        { facts: { v: 1 }, error: undefined, durationMs: 1 },
        log,
      );
    record(
      entries[0] as Entry<F, keyof F>,
      hostKey,
      slotOf(entries[0] as Entry<F, keyof F>, hostKey),
      { facts: { v: 1 }, error: undefined, durationMs: 1 },
      log,
    );
    const [a, b] = targetViews(entries, watched);
    try {
      (a?.errors as string[]).push("x");
    } catch {
      // Frozen (wt/liveheap): refused, which is fine.
    }
    expect(b?.errors).toEqual([]);
    expect(targetViews(entries, watched)[1]?.errors).toEqual([]);
  });
});
