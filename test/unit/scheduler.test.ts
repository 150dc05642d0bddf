import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Collector } from "../../src/collectors/collector.js";
import type { Trigger, TriggerFactory } from "../../src/exporter/scheduler.js";
import { Scheduler } from "../../src/exporter/scheduler.js";
import { alice } from "../helpers/healthy-facts.js";

const target = alice;

/** A trigger the test fires by hand. */
function manualTriggers(): {
  factory: TriggerFactory;
  fire: (name: string) => void;
  stopped: string[];
} {
  const fires = new Map<string, () => void>();
  const stopped: string[] = [];
  const factory: TriggerFactory = (_interval, name, fire): Trigger => {
    fires.set(name, fire);
    return { stop: () => stopped.push(name) };
  };
  return { factory, fire: (name) => fires.get(name)?.(), stopped };
}

function collector(name: string, collect: Collector<unknown>["collect"]): Collector<unknown> {
  return { name, description: name, defaultEnabled: true, defaultIntervalSeconds: 15, collect };
}

function makeScheduler(
  collectors: Collector<unknown>[],
  triggers: ReturnType<typeof manualTriggers>,
  logs: object[] = [],
) {
  const log = pino(
    { level: "debug" },
    { write: (line: string) => logs.push(JSON.parse(line) as object) },
  );
  return new Scheduler({
    collectors,
    settings: collectors.map((c) => ({ name: c.name, enabled: true, intervalSeconds: 15 })),
    roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
    target,
    timeoutMs: 1000,
    rpcTimeoutMs: 500,
    collectorOptions: {},
    env: {},
    log,
    trigger: triggers.factory,
  });
}

describe("Scheduler", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("runs each collector at start, keeps facts, and counts failures without touching the others", async () => {
    const triggers = manualTriggers();
    let fail = false;
    const scheduler = makeScheduler(
      [
        collector("good", async () => ({ value: 1 })),
        collector("flaky", async () => {
          if (fail) throw new Error("boom");
          return { value: 2 };
        }),
      ],
      triggers,
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.states().map((s) => [s.name, s.ok, s.facts])).toEqual([
      ["good", true, { value: 1 }],
      ["flaky", true, { value: 2 }],
    ]);
    fail = true;
    triggers.fire("flaky");
    await vi.advanceTimersByTimeAsync(0);
    const flaky = scheduler.states()[1];
    expect(flaky).toMatchObject({
      ok: false,
      error: "boom",
      facts: undefined,
      errorsTotal: 1,
      runs: 2,
    });
    expect(flaky?.lastSuccessAt).toBeDefined();
    expect(scheduler.states()[0]).toMatchObject({ ok: true, errorsTotal: 0 });
    await scheduler.stop();
    expect(triggers.stopped).toEqual(["good", "flaky"]);
  });

  it("abandons a run past its timeout, aborts its signal, and never overlaps it", async () => {
    const triggers = manualTriggers();
    let calls = 0;
    let aborted = false;
    let release: (() => void) | undefined;
    const scheduler = makeScheduler(
      [
        collector("hung", ({ signal }) => {
          calls++;
          signal.addEventListener("abort", () => (aborted = true));
          return new Promise((resolve) => (release = () => resolve({ late: true })));
        }),
      ],
      triggers,
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(scheduler.states()[0]?.ok).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(scheduler.states()[0]).toMatchObject({ ok: false, errorsTotal: 1 });
    expect(scheduler.states()[0]?.error).toMatch(/timeout/);
    expect(aborted).toBe(true);
    // Still hung: the next tick does not start a second run, and counts as another failure.
    triggers.fire("hung");
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    expect(scheduler.states()[0]).toMatchObject({ ok: false, errorsTotal: 2 });
    // Once the abandoned run settles, the next tick runs again.
    release?.();
    await vi.advanceTimersByTimeAsync(0);
    triggers.fire("hung");
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    await scheduler.stop();
  });

  it("logs an expected condition once at debug and a failure once per change at warn", async () => {
    const triggers = manualTriggers();
    const logs: { level?: number; msg?: string; note?: string }[] = [];
    let error = "first";
    const scheduler = makeScheduler(
      [
        collector("noted", async ({ note }) => {
          note("/etc/subuid does not exist");
          return {};
        }),
        collector("failing", async () => {
          throw new Error(error);
        }),
      ],
      triggers,
      logs,
    );
    scheduler.start();
    for (let i = 0; i < 3; i++) {
      triggers.fire("noted");
      triggers.fire("failing");
      await vi.advanceTimersByTimeAsync(0);
    }
    error = "second";
    triggers.fire("failing");
    await vi.advanceTimersByTimeAsync(0);
    expect(logs.filter((l) => l.note === "/etc/subuid does not exist")).toHaveLength(1);
    expect(logs.filter((l) => l.msg === "collector failed").map((l) => l.level)).toEqual([40, 40]);
    await scheduler.stop();
  });
});
