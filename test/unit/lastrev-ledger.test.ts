import { describe, expect, it, vi } from "vitest";
import type { Logger } from "pino";
import type { UserCollector, UserContext } from "../../src/collectors/collector.js";
import type { CollectorSetting } from "../../src/config.js";
import type { Target } from "../../src/host/target.js";
import type { Slot } from "../../src/exporter/schedule/ledger.js";
import {
  newEntry,
  record,
  retire,
  slotLog,
  slotOf,
  summarize,
  targetKey,
} from "../../src/exporter/schedule/ledger.js";
import type { ReuseSlot } from "../../src/exporter/schedule/reuse.js";
import { collectOrReuseInto, maxReusedRuns } from "../../src/exporter/schedule/reuse.js";
import { noNotes } from "../../src/exporter/schedule/run.js";

/*
 * lastrev (hostile review of heap2): a slot's rare fields behind getters (error, errorsTotal,
 * notes, logger) and the reuse key's fields on the slot read as before by every reader: record's
 * `collector failed`/`recovered` logging, summarize's errors and counter, retire's totals, the
 * reuse bound (19 runs, the age). Written against the ledger's and reuse's exported API only, so
 * the same file runs on 8771e57 and on the merged tree.
 */

interface Facts {
  readonly n: number;
}

const target = (uid: number): Target => ({
  name: `u${uid}`,
  uid,
  gid: uid,
  home: `/home/u${uid}`,
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
});

function collector(key: { value: string | undefined }, calls = { full: 0 }): UserCollector<Facts> {
  return {
    name: "counted",
    scope: "user",
    description: "counted",
    defaultEnabled: true,
    defaultIntervalSeconds: 15,
    inputs: () => Promise.resolve(key.value),
    collect: () => {
      calls.full++;
      return Promise.resolve({ n: calls.full });
    },
  };
}

const setting = { enabled: true, intervalSeconds: 15 } as unknown as CollectorSetting;

function logger() {
  const warn = vi.fn();
  const info = vi.fn();
  const log = { warn, info, debug: vi.fn(), child: () => log } as unknown as Logger;
  return { log, warn, info };
}

describe("lastrev: heap2's slot fields read as before", () => {
  it("counts errors, logs each new error once, clears the error on success, keeps totals when retired", () => {
    const entry = newEntry<{ c: Facts }, "c">("c", collector({ value: undefined }), setting);
    const a = target(1000);
    const b = target(1001);
    const ka = targetKey(a);
    const kb = targetKey(b);
    const sa = slotOf(entry, ka, a);
    const sb = slotOf(entry, kb, b);
    const { log, warn, info } = logger();
    const rec = (key: string, slot: Slot<Facts>, error?: string) =>
      record(
        entry,
        key,
        slot,
        { facts: error ? undefined : { n: 1 }, error, durationMs: 5 },
        () => log,
      );
    // A fresh slot: nothing failed, no error, the empty notes.
    expect([sa.state.errorsTotal, sa.state.error, sa.notes, sa.logger]).toEqual([
      0,
      undefined,
      noNotes,
      undefined,
    ]);
    expect(rec(ka, sa)).toBe(true);
    expect(sa.state.errorsTotal).toBe(0);
    expect(rec(ka, sa, "boom")).toBe(true);
    expect(rec(ka, sa, "boom")).toBe(false);
    expect(rec(ka, sa, "other")).toBe(false);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(sa.state.error).toBe("other");
    expect(sa.state.errorsTotal).toBe(3);
    expect(summarize(entry)).toMatchObject({
      ok: false,
      error: "u1000: other",
      errorsTotal: 3,
      runs: 4,
    });
    expect(rec(ka, sa)).toBe(true);
    expect(info).toHaveBeenCalledTimes(1);
    // The error cleared (the side object kept), the counter kept.
    expect(sa.state.error).toBeUndefined();
    expect(sa.state.errorsTotal).toBe(3);
    expect(rec(kb, sb, "x")).toBe(true);
    expect(summarize(entry)).toMatchObject({
      ok: false,
      error: "u1001: x",
      errorsTotal: 4,
      runs: 6,
    });
    // The same error after a success is logged again.
    expect(rec(ka, sa, "other")).toBe(true);
    expect(warn).toHaveBeenCalledTimes(4);
    retire(entry, ka);
    retire(entry, kb);
    expect(summarize(entry)).toMatchObject({ errorsTotal: 5, runs: 7, ok: undefined });
    // A slot made again under the same key starts clean.
    const again = slotOf(entry, ka, a);
    expect([again.state.errorsTotal, again.state.error, again.notes]).toEqual([
      0,
      undefined,
      noNotes,
    ]);
  });

  it("keeps notes and the logger once set, and the empty notes once cleared", () => {
    const entry = newEntry<{ c: Facts }, "c">("c", collector({ value: undefined }), setting);
    const a = target(1000);
    const slot = slotOf(entry, targetKey(a), a);
    const { log } = logger();
    const made = slotLog(entry, slot, log);
    expect(slotLog(entry, slot, log)).toBe(made);
    expect(slot.logger).toBe(made);
    const notes = new Set(["n"]);
    slot.notes = notes;
    expect(slot.notes).toBe(notes);
    slot.notes = noNotes;
    expect(slot.notes).toBe(noNotes);
    expect(slot.logger).toBe(made);
    expect(slot.state.errorsTotal).toBe(0);
  });

  it("serves 19 reuses then a full run, and a full run once the age is reached", async () => {
    const entry = newEntry<{ c: Facts }, "c">("c", collector({ value: undefined }), setting);
    const a = target(1000);
    const slot = slotOf(entry, targetKey(a), a) as unknown as ReuseSlot<Facts> & Slot<Facts>;
    const calls = { full: 0 };
    const col = collector({ value: "same" }, calls);
    const { log } = logger();
    const ctx = { note: () => undefined } as unknown as UserContext;
    const run = (startedAt: number, maxAgeMs = 300_000) =>
      new Promise<Facts>((resolve, reject) =>
        collectOrReuseInto(col, ctx, slot, maxAgeMs, {
          startedAt,
          watch: (work) => work.then(resolve, reject),
          succeed: resolve,
          fail: reject,
        }),
      ).then((facts) => {
        record(entry, targetKey(a), slot, { facts, error: undefined, durationMs: 1 }, () => log);
        return facts;
      });
    await run(1000.25);
    expect(calls.full).toBe(1);
    for (let i = 0; i < maxReusedRuns; i++) await run(1001 + i);
    expect(calls.full).toBe(1);
    await run(1100);
    expect(calls.full).toBe(2);
    // The age bound: a run at exactly the age is a full one (never late) on both builds.
    await run(5000.75, 1000);
    expect(calls.full).toBe(3);
    await run(5999.5, 1000); // 998.75 ms after the full run's start: reused
    expect(calls.full).toBe(3);
    await run(6000.75, 1000); // exactly the age: full
    expect(calls.full).toBe(4);
    // A failed run: never reused after it.
    record(entry, targetKey(a), slot, { facts: undefined, error: "e", durationMs: 1 }, () => log);
    await run(6001, 1000);
    expect(calls.full).toBe(5);
  });
});
