import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { UserCollector } from "../../src/collectors/collector.js";
import { HostState } from "../../src/collectors/state.js";
import type { CollectorSet } from "../../src/exporter/schedule/scheduler.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { TriggerFactory } from "../../src/exporter/schedule/trigger.js";
import { alice } from "../helpers/healthy-facts.js";

// A user's runs start together and share one timer per timeout (run.ts's RunGroup), yet each run
// keeps its own timeout, duration and error: a hung key of one collector fails that collector
// alone, and a reused run is recorded as soon as its own key is in.

interface Facts {
  readonly n: number;
}

/** A keyed collector whose inputs answer `key()` (a promise that may never settle). */
function keyed(
  name: string,
  key: () => Promise<string | undefined>,
  runTimeoutMs?: number,
): UserCollector<Facts> & { collects: number } {
  const c = {
    name,
    scope: "user" as const,
    description: name,
    defaultEnabled: true,
    defaultIntervalSeconds: 15,
    collects: 0,
    inputs: () => key(),
    collect: () => Promise.resolve({ n: ++c.collects }),
    ...(runTimeoutMs !== undefined && { runTimeoutMs: () => runTimeoutMs }),
  };
  return c;
}

function scheduler<F>(collectors: CollectorSet<F>): { s: Scheduler<F>; fire: () => void } {
  let fire = (): void => undefined;
  const trigger: TriggerFactory = (_interval, _name, f) => {
    fire = f;
    return { stop: () => undefined };
  };
  const s = new Scheduler<F>({
    collectors,
    settings: Object.keys(collectors).map((name) => ({ name, enabled: true, intervalSeconds: 15 })),
    roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
    targets: { wants: () => true, resolve: async () => [alice] },
    host: new HostState(),
    timeoutMs: 1000,
    rpcTimeoutMs: 500,
    collectorOptions: {},
    env: {},
    log: pino({ level: "silent" }),
    trigger,
  });
  return { s, fire: () => fire() };
}

const state = <F>(s: Scheduler<F>, name: string) =>
  s.collectorStates().find((c) => c.name === name);

describe("a user's runs (RunGroup)", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("a hung key fails its own collector at its timeout; the user's other run is reused at once", async () => {
    let hang = false;
    const fast = keyed("fast", () => Promise.resolve("k"));
    const slow = keyed("slow", () => (hang ? new Promise(() => undefined) : Promise.resolve("k")));
    const { s, fire } = scheduler({ fast, slow });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect([fast.collects, slow.collects]).toEqual([1, 1]);
    hang = true;
    fire();
    await vi.advanceTimersByTimeAsync(0);
    // fast's key held: reused (no collect), recorded now, its own duration.
    expect(fast.collects).toBe(1);
    expect(state(s, "fast")).toMatchObject({ ok: true, runs: 2, durationSeconds: 0 });
    // slow's key still hangs: nothing recorded yet, and nothing of fast's waits for it.
    expect(state(s, "slow")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(999);
    expect(state(s, "slow")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(1);
    expect(state(s, "slow")).toMatchObject({ ok: false, runs: 2, durationSeconds: 1 });
    expect(state(s, "slow")?.error).toBe("alice: run abandoned after the 1000 ms timeout");
    expect(state(s, "fast")).toMatchObject({ ok: true, runs: 2, durationSeconds: 0 });
    // Still hung at the next cycle: not run again, its failure repeated; fast reused again.
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(state(s, "slow")).toMatchObject({ ok: false, runs: 3, errorsTotal: 2 });
    expect(state(s, "fast")).toMatchObject({ ok: true, runs: 3, errorsTotal: 0 });
    expect(fast.collects).toBe(1);
    await s.stop();
  });

  it("runs of one user with different timeouts end each at its own", async () => {
    let hang = false;
    const never = (): Promise<string | undefined> =>
      hang ? new Promise(() => undefined) : Promise.resolve("k");
    const short = keyed("short", never);
    const long = keyed("long", never, 3000);
    const { s, fire } = scheduler({ short, long });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    hang = true;
    fire();
    await vi.advanceTimersByTimeAsync(1000);
    expect(state(s, "short")).toMatchObject({ ok: false, durationSeconds: 1 });
    expect(state(s, "long")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(2000);
    expect(state(s, "long")).toMatchObject({ ok: false, runs: 2, durationSeconds: 3 });
    expect(state(s, "long")?.error).toBe("alice: run abandoned after the 3000 ms timeout");
    await s.stop();
  });

  it("a cycle that starts while one run still hangs runs the user's others, skips that one", async () => {
    let hang = false;
    const fast = keyed("fast", () => Promise.resolve(hang ? "changed" : "k"));
    const slow = keyed("slow", () => (hang ? new Promise(() => undefined) : Promise.resolve("k")));
    const { s, fire } = scheduler({ fast, slow });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    hang = true;
    fire();
    await vi.advanceTimersByTimeAsync(500);
    // The next cycle, within slow's timeout: fast runs again (a full run for its changed key the
    // cycle before, reused now); slow is still going and had not failed: not run, not recorded.
    fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(fast.collects).toBe(2);
    expect(state(s, "fast")).toMatchObject({ ok: true, runs: 3 });
    expect(state(s, "slow")).toMatchObject({ ok: true, runs: 1 });
    await vi.advanceTimersByTimeAsync(500);
    expect(state(s, "slow")).toMatchObject({ ok: false, runs: 2, errorsTotal: 1 });
    expect(state(s, "fast")).toMatchObject({ ok: true, runs: 3 });
    await s.stop();
  });

  it("an inputs that throws at once fails its own collector only", async () => {
    const fine = keyed("fine", () => Promise.resolve("k"));
    const broken = keyed("broken", () => {
      throw new Error("no key");
    });
    const { s } = scheduler({ fine, broken });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(state(s, "broken")).toMatchObject({ ok: false, error: "alice: no key" });
    expect(state(s, "fine")).toMatchObject({ ok: true });
    await s.stop();
  });
});
