import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { UserCollector, UserContext } from "../../src/collectors/collector.js";
import { HostState } from "../../src/collectors/state.js";
import type { RunState } from "../../src/exporter/schedule/ledger.js";
import type { ReuseSlot } from "../../src/exporter/schedule/reuse.js";
import { collectOrReuse, maxReusedRuns } from "../../src/exporter/schedule/reuse.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import { alice } from "../helpers/healthy-facts.js";

// Issue 19: a user collector that declares its inputs is served its last facts while the key is
// the same, never after a failure, and never past the bound (19 reuses, --collect.reuse-max-age).

interface Facts {
  readonly n: number;
}

/** A collector whose inputs key is `key.value`, counting its full runs. */
function counting(key: { value: string | undefined }) {
  const calls = { collect: 0, inputs: 0 };
  const collector: UserCollector<Facts> = {
    name: "counted",
    scope: "user",
    description: "counted",
    defaultEnabled: true,
    defaultIntervalSeconds: 15,
    inputs: () => {
      calls.inputs++;
      return Promise.resolve(key.value);
    },
    collect: (ctx) => {
      calls.collect++;
      ctx.note("a note");
      return Promise.resolve({ n: calls.collect });
    },
  };
  return { collector, calls };
}

const ctx = (notes: string[] = []): UserContext =>
  ({ note: (m: string) => notes.push(m) }) as unknown as UserContext;

/** A slot as the ledger keeps it, after an outcome (ok or not). */
function slotAfter(
  facts: Facts | undefined,
  ok: boolean,
): ReuseSlot<Facts> & { state: RunState<Facts> } {
  return {
    reuseKey: undefined,
    reuseAt: 0,
    reused: 0,
    notes: new Set(["a note"]),
    state: {
      facts,
      ok,
      error: ok ? undefined : "failed",
      lastRunAt: 0,
      durationSeconds: 0,
      lastSuccessAt: undefined,
      errorsTotal: 0,
      runs: 1,
    },
  };
}

/** Runs collectOrReuse and records its outcome as the ledger would (ok: facts kept). */
async function run(
  collector: UserCollector<Facts>,
  slot: ReturnType<typeof slotAfter>,
  maxAgeMs = 300_000,
  notes: string[] = [],
): Promise<Facts> {
  const facts = await collectOrReuse(collector, ctx(notes), slot, maxAgeMs);
  slot.state = { ...slot.state, facts, ok: true };
  return facts;
}

describe("collectOrReuse", () => {
  afterEach(() => void vi.restoreAllMocks());

  it("serves the same facts object while the key is the same, with the full run's notes", async () => {
    const key = { value: "idle" as string | undefined };
    const { collector, calls } = counting(key);
    const slot = slotAfter(undefined, false);
    const first = await run(collector, slot);
    const notes: string[] = [];
    const second = await run(collector, slot, 300_000, notes);
    expect(second).toBe(first);
    expect(calls.collect).toBe(1);
    expect(notes).toEqual(["a note"]);
  });

  it("collects in full when the key changed, or cannot be told", async () => {
    const key = { value: "idle" as string | undefined };
    const { collector, calls } = counting(key);
    const slot = slotAfter(undefined, false);
    await run(collector, slot);
    key.value = "idle, a file appeared";
    expect((await run(collector, slot)).n).toBe(2);
    key.value = undefined;
    expect((await run(collector, slot)).n).toBe(3);
    expect((await run(collector, slot)).n).toBe(4);
    expect(calls.collect).toBe(4);
  });

  it("never reuses after a failed run", async () => {
    const { collector, calls } = counting({ value: "idle" });
    const slot = slotAfter(undefined, false);
    await run(collector, slot);
    slot.state = { ...slot.state, ok: false };
    await collectOrReuse(collector, ctx(), slot, 300_000);
    expect(calls.collect).toBe(2);
  });

  it("does not keep a key that changed while the collection ran", async () => {
    const key = { value: "missing" as string | undefined };
    const { collector, calls } = counting(key);
    const flip: UserCollector<Facts> = {
      ...collector,
      collect: async (c) => {
        const facts = await collector.collect(c);
        // The file appeared after the key was taken, and is gone again by the next run.
        key.value = "present";
        return facts;
      },
    };
    const slot = slotAfter(undefined, false);
    await run(flip, slot);
    key.value = "missing";
    await run(collector, slot);
    expect(calls.collect).toBe(2);
  });

  it("runs in full after 19 reuses, and once the maximum age has passed", async () => {
    const { collector, calls } = counting({ value: "idle" });
    const slot = slotAfter(undefined, false);
    for (let i = 0; i < 2 * (maxReusedRuns + 1); i++) await run(collector, slot);
    expect(maxReusedRuns).toBe(19);
    expect(calls.collect).toBe(2);
    let now = 1_000_000;
    vi.spyOn(performance, "now").mockImplementation(() => now);
    const aged = counting({ value: "idle" });
    const slot2 = slotAfter(undefined, false);
    await run(aged.collector, slot2, 60_000);
    now += 59_000;
    await run(aged.collector, slot2, 60_000);
    expect(aged.calls.collect).toBe(1);
    now += 1_000;
    await run(aged.collector, slot2, 60_000);
    expect(aged.calls.collect).toBe(2);
  });

  it("is off with a maximum age of 0, and for collectors that declare no inputs", async () => {
    const { collector, calls } = counting({ value: "idle" });
    const slot = slotAfter(undefined, false);
    await run(collector, slot, 0);
    await run(collector, slot, 0);
    expect(calls.collect).toBe(2);
    expect(calls.inputs).toBe(0);
    const plain = { ...collector, inputs: undefined };
    await run(plain, slot);
    await run(plain, slot);
    expect(calls.collect).toBe(4);
  });
});

describe("the scheduler's reuse", () => {
  it("keeps the facts object across reused runs, counts them as runs, and runs in full on the bound", async () => {
    const { collector, calls } = counting({ value: "idle" });
    const scheduler = new Scheduler<{ counted: Facts }>({
      collectors: { counted: collector },
      settings: [{ name: "counted", enabled: true, intervalSeconds: 15 }],
      roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
      targets: { wants: () => true, resolve: async () => [alice] },
      host: new HostState(),
      timeoutMs: 1000,
      rpcTimeoutMs: 500,
      collectorOptions: {},
      env: {},
      log: pino({ level: "silent" }),
      trigger: () => ({ stop: () => undefined }),
    });
    await scheduler.runAll();
    const first = scheduler.targetViews()[0]?.facts.counted;
    for (let i = 0; i < maxReusedRuns; i++) await scheduler.runAll();
    expect(scheduler.targetViews()[0]?.facts.counted).toBe(first);
    expect(calls.collect).toBe(1);
    await scheduler.runAll();
    expect(calls.collect).toBe(2);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: true, runs: maxReusedRuns + 2 });
    await scheduler.stop();
  });
});
