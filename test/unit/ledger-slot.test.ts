import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Collector } from "../../src/collectors/collector.js";
import { newEntry, record, retire, slotLog, slotOf } from "../../src/exporter/schedule/ledger.js";
import { noNotes } from "../../src/exporter/schedule/run.js";

// heap2: a slot keeps its error, failed runs, notes and logger in a side object made when one of
// them is first set, and the reuse key's fields on itself; read through the slot, every field is
// what it was when each had a field of its own.

type F = { c: { v: number } };
const log = pino({ level: "silent" });
const collector = {
  name: "c",
  scope: "user",
  description: "",
  defaultEnabled: true,
  defaultIntervalSeconds: 1,
  collect: () => Promise.resolve({ v: 0 }),
} as unknown as Collector<F["c"]>;

describe("a ledger slot's rare fields", () => {
  it("reads as before through failures, recoveries, notes and a logger", () => {
    const entry = newEntry<F, "c">("c", collector, {
      name: "c",
      enabled: true,
      intervalSeconds: 1,
    });
    const slot = slotOf(entry, "1\0u");
    const state = () => ({ ...pick(slot.state), notes: slot.notes, logger: slot.logger });
    expect(state()).toEqual({
      ok: undefined,
      error: undefined,
      errorsTotal: 0,
      runs: 0,
      notes: noNotes,
      logger: undefined,
    });
    expect(slot.reuseKey).toBeUndefined();
    const quiet = () => log;
    record(entry, "1\0u", slot, { facts: { v: 1 }, error: undefined, durationMs: 2 }, quiet);
    expect(pick(slot.state)).toEqual({ ok: true, error: undefined, errorsTotal: 0, runs: 1 });
    // Setting a field back to its default makes no side object; reading one never does.
    slot.notes = noNotes;
    slot.logger = undefined;
    expect(Object.values(slot).filter((v) => v !== null && typeof v === "object")).toEqual([
      { v: 1 },
    ]);
    record(entry, "1\0u", slot, { facts: undefined, error: "boom", durationMs: 1 }, quiet);
    record(entry, "1\0u", slot, { facts: undefined, error: "boom", durationMs: 1 }, quiet);
    expect(pick(slot.state)).toEqual({ ok: false, error: "boom", errorsTotal: 2, runs: 3 });
    expect(slot.state.facts).toBeUndefined();
    record(entry, "1\0u", slot, { facts: { v: 2 }, error: undefined, durationMs: 1 }, quiet);
    expect(pick(slot.state)).toEqual({ ok: true, error: undefined, errorsTotal: 2, runs: 4 });
    const notes = new Set(["a note"]);
    slot.notes = notes;
    expect(slot.notes).toBe(notes);
    slot.notes = noNotes;
    expect(slot.notes).toBe(noNotes);
    const logger = slotLog(entry, slot, log);
    expect(slotLog(entry, slot, log)).toBe(logger);
    expect(slot.logger).toBe(logger);
    // A retired slot's counts go to the entry's totals.
    retire(entry, "1\0u");
    expect([entry.retiredErrors, entry.retiredRuns]).toEqual([2, 4]);
  });

  it("a logger alone makes the side object, the other fields still at their defaults", () => {
    const entry = newEntry<F, "c">("c", collector, {
      name: "c",
      enabled: true,
      intervalSeconds: 1,
    });
    const slot = slotOf(entry, "2\0v");
    slotLog(entry, slot, log);
    expect(slot.logger).toBeDefined();
    expect(pick(slot.state)).toEqual({ ok: undefined, error: undefined, errorsTotal: 0, runs: 0 });
    expect(slot.notes).toBe(noNotes);
  });
});

function pick(s: { ok?: boolean; error?: string; errorsTotal: number; runs: number }) {
  return { ok: s.ok, error: s.error, errorsTotal: s.errorsTotal, runs: s.runs };
}
