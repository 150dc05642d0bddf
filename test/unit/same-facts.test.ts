import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { newEntry, record, slotOf } from "../../src/exporter/schedule/ledger.js";
import { sameFacts } from "../../src/exporter/schedule/same-facts.js";

describe("sameFacts", () => {
  it.each<[string, unknown, unknown, boolean]>([
    ["equal plain objects", { a: 1, b: [1, { c: "x" }] }, { b: [1, { c: "x" }], a: 1 }, true],
    ["a value differs", { a: 1 }, { a: 2 }, false],
    ["a key more", { a: 1 }, { a: 1, b: undefined }, false],
    ["array length", [1, 2], [1, 2, 3], false],
    ["array against object", [1], { 0: 1 }, false],
    ["NaN", { a: Number.NaN }, { a: Number.NaN }, true],
    ["null against object", null, {}, false],
    ["a Map is compared by identity", new Map(), new Map(), false],
    ["a Date is compared by identity", new Date(0), new Date(0), false],
  ])("%s", (_, a, b, same) => {
    expect(sameFacts(a, b)).toBe(same);
  });
});

describe("record", () => {
  it("keeps the previous facts object when a run brings equal facts, and says what changed", () => {
    const entry = newEntry<{ x: { n: number } }, "x">(
      "x",
      {
        name: "x",
        scope: "host",
        description: "",
        defaultEnabled: true,
        defaultIntervalSeconds: 1,
        collect: async () => ({ n: 1 }),
      },
      { name: "x", enabled: true, intervalSeconds: 1 },
    );
    const slot = slotOf(entry, "");
    const log = () => pino({ level: "silent" });
    const run = (facts: { n: number } | undefined, error?: string) =>
      record(entry, "", slot, { facts, error, durationMs: 1 }, log);
    const first = { n: 1 };
    expect(run(first)).toBe(true);
    // What is kept is a copy of `first` (shared-facts.ts: ownShape), kept from then on.
    const kept = slot.state.facts;
    expect(kept).toEqual(first);
    expect(run({ n: 1 })).toBe(false);
    expect(slot.state.facts).toBe(kept);
    expect(slot.state.runs).toBe(2);
    expect(run({ n: 2 })).toBe(true);
    expect(run(undefined, "down")).toBe(true);
    expect(run(undefined, "still down")).toBe(false);
    expect(slot.state.errorsTotal).toBe(2);
    expect(run({ n: 2 })).toBe(true);
  });
});
