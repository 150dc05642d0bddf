import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Collector, UserContext } from "../../src/collectors/collector.js";
import { HostState } from "../../src/collectors/state.js";
import type { CollectorSet } from "../../src/exporter/schedule/scheduler.js";
import type { Trigger, TriggerFactory } from "../../src/exporter/schedule/trigger.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { Target } from "../../src/host/target.js";
import { alice } from "../helpers/healthy-facts.js";

const bob: Target = { ...alice, name: "bob", uid: 1001, runtimeDir: "/run/user/1001" };

/** A trigger the test fires by hand, by name ("cycle-15s"). */
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

function collector<F>(
  name: string,
  collect: (ctx: UserContext) => Promise<F>,
  defaultIntervalSeconds = 15,
): Collector<F> {
  return {
    name,
    scope: "user",
    description: name,
    defaultEnabled: true,
    defaultIntervalSeconds,
    collect,
  };
}

function makeScheduler<F>(
  collectors: CollectorSet<F>,
  triggers: ReturnType<typeof manualTriggers>,
  options: { logs?: object[]; targets?: () => Target[] } = {},
) {
  const logs = options.logs ?? [];
  const log = pino(
    { level: "debug" },
    { write: (line: string) => logs.push(JSON.parse(line) as object) },
  );
  const targets = options.targets ?? (() => [alice]);
  const list: Collector<unknown>[] = Object.values(collectors);
  return new Scheduler<F>({
    collectors,
    settings: list.map((c) => ({
      name: c.name,
      enabled: true,
      intervalSeconds: c.defaultIntervalSeconds,
    })),
    roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
    targets: { wants: () => true, resolve: async () => targets() },
    host: new HostState(),
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
      {
        good: collector("good", async () => ({ value: 1 })),
        flaky: collector(
          "flaky",
          async () => {
            if (fail) throw new Error("boom");
            return { value: 2 };
          },
          30,
        ),
      },
      triggers,
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.targetViews()[0]?.facts).toEqual({ good: { value: 1 }, flaky: { value: 2 } });
    expect(scheduler.collectorStates().map((s) => [s.name, s.ok])).toEqual([
      ["good", true],
      ["flaky", true],
    ]);
    fail = true;
    triggers.fire("cycle-30s");
    await vi.advanceTimersByTimeAsync(0);
    const flaky = scheduler.collectorStates()[1];
    expect(flaky).toMatchObject({ ok: false, error: "alice: boom", errorsTotal: 1, runs: 2 });
    expect(flaky?.lastSuccessAt).toBeDefined();
    expect(scheduler.targetViews()[0]?.facts).toEqual({ good: { value: 1 } });
    expect(scheduler.targetViews()[0]?.errors).toEqual(["flaky: boom"]);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: true, errorsTotal: 0 });
    await scheduler.stop();
    expect(triggers.stopped).toEqual(["cycle-15s", "cycle-30s"]);
  });

  it("abandons a run past its timeout, aborts its signal, and never overlaps it", async () => {
    const triggers = manualTriggers();
    let calls = 0;
    let aborted = false;
    let release: (() => void) | undefined;
    const scheduler = makeScheduler(
      {
        hung: collector("hung", ({ signal }) => {
          calls++;
          signal.addEventListener("abort", () => (aborted = true));
          return new Promise((resolve) => (release = () => resolve({ late: true })));
        }),
      },
      triggers,
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(scheduler.collectorStates()[0]?.ok).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: false, errorsTotal: 1 });
    expect(scheduler.collectorStates()[0]?.error).toMatch(/timeout/);
    expect(aborted).toBe(true);
    // Still hung: the next tick does not start a second run, and counts as another failure.
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: false, errorsTotal: 2 });
    // Once the abandoned run settles, the next tick runs again.
    release?.();
    await vi.advanceTimersByTimeAsync(0);
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(2);
    await scheduler.stop();
  });

  it("logs an expected condition once at debug and a failure once per change at warn", async () => {
    const triggers = manualTriggers();
    const logs: { level?: number; msg?: string; note?: string }[] = [];
    let error = "first";
    const scheduler = makeScheduler(
      {
        noted: collector("noted", async ({ note }) => {
          note("/etc/subuid does not exist");
          return {};
        }),
        failing: collector("failing", async () => {
          throw new Error(error);
        }),
      },
      triggers,
      { logs },
    );
    scheduler.start();
    for (let i = 0; i < 3; i++) {
      triggers.fire("cycle-15s");
      await vi.advanceTimersByTimeAsync(0);
    }
    error = "second";
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    expect(logs.filter((l) => l.note === "/etc/subuid does not exist")).toHaveLength(1);
    expect(logs.filter((l) => l.msg === "collector failed").map((l) => l.level)).toEqual([40, 40]);
    await scheduler.stop();
  });

  it("runs a host collector once a cycle and a user collector once per user, sharing the cycle's memo", async () => {
    const triggers = manualTriggers();
    const cycles = new Set<object>();
    let hostRuns = 0;
    const scheduler = makeScheduler(
      {
        kernel: {
          name: "kernel",
          scope: "host",
          description: "host",
          defaultEnabled: true,
          defaultIntervalSeconds: 15,
          collect: async ({ cycle, targets }) => {
            hostRuns++;
            cycles.add(cycle);
            return { users: targets.length };
          },
        },
        user: collector("user", async ({ target, cycle }) => {
          cycles.add(cycle);
          return { uid: target.uid };
        }),
      },
      triggers,
      { targets: () => [alice, bob] },
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(hostRuns).toBe(1);
    expect(cycles.size).toBe(1);
    expect(scheduler.hostFacts()).toEqual({ kernel: { users: 2 } });
    expect(scheduler.targetViews().map((v) => v.facts)).toEqual([
      { kernel: { users: 2 }, user: { uid: 1000 } },
      { kernel: { users: 2 }, user: { uid: 1001 } },
    ]);
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    expect(cycles.size).toBe(2);
    await scheduler.stop();
  });

  it("aborts a run in progress when its user goes away, and every run in progress at stop", async () => {
    // The run's signal lives with the run, not the slot (docs/performance.md#memory): asked for
    // at once or only after an await, it is the one aborted.
    const triggers = manualTriggers();
    let watched = [alice, bob];
    const aborted: string[] = [];
    const scheduler = makeScheduler(
      {
        daemon: collector("daemon", async (ctx) => {
          if (ctx.target.name === "bob") await Promise.resolve();
          ctx.signal.addEventListener("abort", () => aborted.push(ctx.target.name));
          return new Promise(() => undefined);
        }),
      },
      triggers,
      { targets: () => watched },
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    watched = [alice];
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    expect(aborted).toEqual(["bob"]);
    await scheduler.stop();
    expect(aborted).toEqual(["bob", "alice"]);
  });

  it("a hung user delays no other user, and a user who goes away loses every slot at once", async () => {
    const triggers = manualTriggers();
    let watched = [alice, bob];
    const scheduler = makeScheduler(
      {
        daemon: collector("daemon", ({ target }) =>
          target.name === "bob" ? new Promise(() => undefined) : Promise.resolve({ up: true }),
        ),
      },
      triggers,
      { targets: () => watched },
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    // alice's facts are in while bob's run still hangs.
    expect(scheduler.targetViews().map((v) => [v.target.name, v.facts])).toEqual([
      ["alice", { daemon: { up: true } }],
      ["bob", {}],
    ]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: false, errorsTotal: 1 });
    expect(scheduler.userRuns()).toEqual([
      { collector: "daemon", user: "alice", ok: true },
      { collector: "daemon", user: "bob", ok: false },
    ]);
    watched = [alice];
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.targets().map((t) => t.name)).toEqual(["alice"]);
    expect(scheduler.userRuns()).toEqual([{ collector: "daemon", user: "alice", ok: true }]);
    // The counter of failed runs never goes down: bob's failure stays counted.
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: true, errorsTotal: 1, runs: 3 });
    await scheduler.stop();
  });

  it("a user removed by a newer cycle is not brought back by an older cycle still queued", async () => {
    const triggers = manualTriggers();
    const users = Array.from({ length: 10 }, (_, i) => ({
      ...alice,
      name: `u${i}`,
      uid: 2000 + i,
    }));
    let watched = users;
    const releases: (() => void)[] = [];
    const scheduler = makeScheduler(
      {
        slow: collector("slow", ({ target }) =>
          // The first eight hold every worker of the first cycle until released.
          target.uid < 2008 && releases.length < 8
            ? new Promise((resolve) => releases.push(() => resolve({ ok: 1 })))
            : Promise.resolve({ ok: 1 }),
        ),
      },
      triggers,
      { targets: () => watched },
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(releases).toHaveLength(8);
    // A newer cycle: u9 is gone.
    watched = users.slice(0, 9);
    triggers.fire("cycle-15s");
    await vi.advanceTimersByTimeAsync(0);
    for (const release of releases) release();
    await vi.advanceTimersByTimeAsync(10);
    expect(scheduler.userRuns().map((r) => r.user)).not.toContain("u9");
    expect(scheduler.targets().map((t) => t.name)).not.toContain("u9");
    await scheduler.stop();
  });

  it("a user whose runs never succeeded leaves the collector without a last success", async () => {
    const triggers = manualTriggers();
    const scheduler = makeScheduler(
      {
        half: collector("half", async ({ target }) => {
          if (target.name === "bob") throw new Error("never");
          return {};
        }),
      },
      triggers,
      { targets: () => [alice, bob] },
    );
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: false, lastSuccessAt: undefined });
    await scheduler.stop();
  });

  it("a user collector with nobody to watch has succeeded", async () => {
    const triggers = manualTriggers();
    const scheduler = makeScheduler({ user: collector("user", async () => ({})) }, triggers, {
      targets: () => [],
    });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.collectorStates()[0]).toMatchObject({ ok: true, errorsTotal: 0 });
    expect(scheduler.targetViews()).toEqual([]);
    await scheduler.stop();
  });
});
