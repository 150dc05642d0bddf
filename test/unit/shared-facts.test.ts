import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Collector, UserContext } from "../../src/collectors/collector.js";
import { HostState } from "../../src/collectors/state.js";
import type { CollectorSet } from "../../src/exporter/schedule/scheduler.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import { ownShape, SharedFacts } from "../../src/exporter/schedule/shared-facts.js";
import type { Target } from "../../src/host/target.js";
import { alice } from "../helpers/healthy-facts.js";

const bob: Target = { ...alice, name: "bob", uid: 1001, runtimeDir: "/run/user/1001" };
const carol: Target = { ...alice, name: "carol", uid: 1002, runtimeDir: "/run/user/1002" };

function collector<F>(name: string, collect: (ctx: UserContext) => Promise<F>): Collector<F> {
  return {
    name,
    scope: "user",
    description: name,
    defaultEnabled: true,
    defaultIntervalSeconds: 15,
    collect,
  };
}

function scheduler<F>(collectors: CollectorSet<F>): Scheduler<F> {
  const list: Collector<unknown>[] = Object.values(collectors);
  return new Scheduler<F>({
    collectors,
    settings: list.map((c) => ({ name: c.name, enabled: true, intervalSeconds: 15 })),
    roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
    targets: { wants: () => true, resolve: async () => [alice, bob, carol] },
    host: new HostState(),
    timeoutMs: 1000,
    rpcTimeoutMs: 500,
    collectorOptions: {},
    env: {},
    log: pino({ level: "silent" }),
    trigger: () => ({ stop() {} }),
  });
}

interface Facts {
  same: { value: number; list: number[] };
  own: { user: string };
  mapped: { ids: Map<string, number> };
}

describe("facts equal across users are kept as one object", () => {
  it("shares equal facts, not different ones, and never facts holding a Map", async () => {
    let carolValue = 1;
    const s = scheduler<Facts>({
      same: collector("same", async ({ target }) => ({
        value: target.name === "carol" ? carolValue : 1,
        list: [1, 2],
      })),
      own: collector("own", async ({ target }) => ({ user: target.name })),
      mapped: collector("mapped", async () => ({ ids: new Map([["a", 1]]) })),
    });
    const facts = () => s.targetViews().map((view) => view.facts);
    await s.runAll();
    const [a, b, c] = facts();
    expect(a?.same).toEqual({ value: 1, list: [1, 2] });
    expect(a?.same).toBe(b?.same);
    expect(a?.same).toBe(c?.same);
    expect(a?.own).not.toBe(b?.own);
    expect(b?.own).toEqual({ user: "bob" });
    expect(a?.mapped).not.toBe(b?.mapped);

    // Carol's facts change: hers are her own, the others keep the very object they had.
    carolValue = 2;
    await s.runAll();
    const [a2, b2, c2] = facts();
    expect(a2?.same).toBe(a?.same);
    expect(b2?.same).toBe(a?.same);
    expect(c2?.same).toEqual({ value: 2, list: [1, 2] });
    expect(c2?.same).not.toBe(a?.same);

    // And back: equal to the others' again, so the same object again.
    carolValue = 1;
    await s.runAll();
    expect(facts()[2]?.same).toBe(a?.same);
    await s.stop();
  });

  it("remembers a few values, the last met first", () => {
    const shared = new SharedFacts<{ n: number }>();
    const first = shared.share({ n: 0 });
    for (let n = 1; n <= 7; n++) shared.share({ n });
    expect(shared.share({ n: 0 })).toBe(first);
    // Eight others met since: the first value is no longer remembered.
    for (let n = 10; n < 18; n++) shared.share({ n });
    const again = shared.share({ n: 0 });
    expect(again).not.toBe(first);
    expect(again).toEqual({ n: 0 });
    expect(shared.share({ n: 0 })).toBe(again);
  });

  it("keeps a new value as a plain copy in its own keys' order, anything else as it is", () => {
    const spread = { ...{ b: 2, a: [1] }, c: { d: 1 } };
    const copy = ownShape(spread);
    expect(copy).not.toBe(spread);
    expect(Object.keys(copy)).toEqual(["b", "a", "c"]);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(spread));
    // Nested objects are not copied: a collector may keep them too.
    expect(copy.a).toBe(spread.a);
    expect(copy.c).toBe(spread.c);
    const map = new Map([["a", 1]]);
    expect(ownShape(map)).toBe(map);
    const list = [{ a: 1 }];
    expect(ownShape(list)).toBe(list);
    const bare = Object.create(null) as { a?: number };
    bare.a = 1;
    expect(ownShape(bare)).toBe(bare);
    // A key an assignment would turn into a prototype is never assigned.
    const parsed = JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}') as object;
    expect(ownShape(parsed)).toBe(parsed);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(ownShape(undefined)).toBeUndefined();
  });
});
