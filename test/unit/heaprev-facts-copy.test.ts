import { describe, expect, it } from "vitest";
import { sameFacts } from "../../src/exporter/schedule/same-facts.js";
import { SharedFacts } from "../../src/exporter/schedule/shared-facts.js";

// heaprev: the ledger now keeps a copy of a collector's facts (shared-facts.ts ownShape) where it
// kept the facts object itself. What the copy keeps, and what it does not, against main.

const kept = <F>(facts: F): F => new SharedFacts<F>().share(facts);

describe("heaprev: facts as kept by the ledger", () => {
  it("keeps every plain fact: nested objects and arrays as they are, undefined keys, key order", () => {
    const nested = { a: [1, { b: 2 }], m: new Map([["k", 1]]) };
    const facts = {
      z: 1,
      "10": "ten",
      "2": "two",
      a: undefined,
      nested,
      list: [nested],
      nan: Number.NaN,
      date: new Date(0),
      empty: {},
    };
    const copy = kept(facts);
    expect(sameFacts(copy, facts)).toBe(true);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(facts));
    expect(Object.keys(copy)).toEqual(Object.keys(facts));
    expect(Object.hasOwn(copy, "a")).toBe(true);
    expect(copy.nested).toBe(nested);
    expect(copy.list[0]).toBe(nested);
    expect(copy.date).toBe(facts.date);
  });

  it("keeps anything but a plain object as the very object", () => {
    class Facts {
      x = 1;
    }
    const bare = Object.assign(Object.create(null) as Record<string, number>, { x: 1 });
    const own = JSON.parse('{"__proto__": {"polluted": 1}, "x": 1}') as Record<string, unknown>;
    for (const facts of [new Map([["x", 1]]), new Facts(), bare, [1, 2], own, "text", 7, null])
      expect(kept(facts)).toBe(facts);
    // A parsed own "__proto__" key did not reach any prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("two users' equal facts are one object, and a later equal value finds it", () => {
    const table = new SharedFacts<{ a: number; b: { c: number } }>();
    const first = table.share({ a: 1, b: { c: 2 } });
    expect(table.share({ a: 1, b: { c: 2 } })).toBe(first);
  });
});
