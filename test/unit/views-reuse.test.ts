import { describe, expect, it } from "vitest";
import type { Entry } from "../../src/exporter/schedule/ledger.js";
import { hostKey, summarize } from "../../src/exporter/schedule/ledger.js";
import type { Watched } from "../../src/exporter/schedule/roster.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import { targetViews } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice } from "../helpers/healthy-facts.js";

// A rendering's views (views.ts): a user whose view would be equal to the last one gets the same
// object again (no facts object or errors array made per user and rendering), and any change the
// view shows (facts, a failure, completeness, the target, the host's facts) makes a new one.

type F = { kernel: { k: number }; docker: { d: number }; dbus: { b: number } };
interface State {
  ok: boolean | undefined;
  facts?: unknown;
  error?: string;
  errorsTotal?: number;
  runs?: number;
  lastRunAt?: number;
  lastSuccessAt?: number;
  durationSeconds?: number;
}

const user = (name: string, uid: number): Target => ({ ...alice, name, uid });
const key = (t: Target): string => `${t.uid}\0${t.name}`;

function entry(name: keyof F, scope: "host" | "user"): Entry<F, keyof F> {
  return {
    name,
    collector: { scope },
    setting: { intervalSeconds: 15 },
    slots: new Map(),
    retiredErrors: 0,
    retiredRuns: 0,
    cycleAt: undefined,
  } as unknown as Entry<F, keyof F>;
}
function set(e: Entry<F, keyof F>, slotKey: string, state: State, target?: Target): void {
  const full = { errorsTotal: 0, runs: 1, ...state };
  e.slots.set(slotKey, { target, state: full } as never);
}

describe("views given again while equal", () => {
  it("gives each unchanged user the same view object, and a new one for any change it shows", () => {
    const kernel = entry("kernel", "host");
    const docker = entry("docker", "user");
    const dbus = entry("dbus", "user");
    const entries = [kernel, docker, dbus];
    const [amy, bob] = [user("amy", 2001), user("bob", 2002)];
    const watched = new Map<string, Watched>(
      [amy, bob].map((t) => [key(t), { target: t } as Watched]),
    );
    const hostFacts = { k: 1 };
    set(kernel, hostKey, { ok: true, facts: hostFacts });
    for (const t of [amy, bob]) {
      set(docker, key(t), { ok: true, facts: { d: t.uid } }, t);
      set(dbus, key(t), { ok: true, facts: { b: 0 } }, t);
    }
    const last = new Map<string, TargetView<F>>();
    const first = targetViews(entries, watched, last);
    const fresh = (): TargetView<F>[] => targetViews(entries, watched);
    expect(targetViews(entries, watched, last)).toEqual(first);
    const same = targetViews(entries, watched, last);
    expect(same[0]).toBe(first[0]);
    expect(same[1]).toBe(first[1]);

    // A run with new facts for amy (a new object): amy's view is new, bob's kept.
    set(docker, key(amy), { ok: true, facts: { d: 7 } }, amy);
    let now = targetViews(entries, watched, last);
    expect(now[0]).not.toBe(first[0]);
    expect(now[1]).toBe(first[1]);
    expect(now).toEqual(fresh());

    // A failure, then the same failure again (kept), then another error text (new).
    set(dbus, key(bob), { ok: false, error: "no bus" }, bob);
    now = targetViews(entries, watched, last);
    expect(now[1]!.errors).toEqual(["dbus: no bus"]);
    expect(now[1]!.facts).not.toHaveProperty("dbus");
    const failed = now[1];
    expect(targetViews(entries, watched, last)[1]).toBe(failed);
    set(dbus, key(bob), { ok: false, error: "no bus!" }, bob);
    now = targetViews(entries, watched, last);
    expect(now[1]).not.toBe(failed);
    expect(now).toEqual(fresh());

    // Not run yet (incomplete), the host's facts changing, the host failing, a target replaced.
    const before = targetViews(entries, watched, last);
    set(docker, key(bob), { ok: undefined }, bob);
    now = targetViews(entries, watched, last);
    expect(now[1]).not.toBe(before[1]);
    expect(now[1]!.complete).toBe(false);
    set(kernel, hostKey, { ok: true, facts: { k: 2 } });
    now = targetViews(entries, watched, last);
    expect(now[0]).not.toBe(before[0]);
    expect(now).toEqual(fresh());
    set(kernel, hostKey, { ok: false, error: "proc" });
    now = targetViews(entries, watched, last);
    expect(now[0]!.errors).toEqual(["kernel: proc"]);
    expect(now).toEqual(fresh());
    const amy2 = { ...amy };
    watched.set(key(amy), { target: amy2 } as Watched);
    expect(targetViews(entries, watched, last)[0]!.target).toBe(amy2);

    // A user gone is forgotten.
    watched.delete(key(bob));
    expect(targetViews(entries, watched, last)).toHaveLength(1);
    expect([...last.keys()]).toEqual([key(amy)]);
  });

  it("summarizes a collector as before, in one pass", () => {
    const docker = entry("docker", "user");
    const users = Array.from({ length: 8 }, (_, i) => user(`u${i}`, 3000 + i));
    users.forEach((t, i) =>
      set(
        docker,
        key(t),
        i < 7
          ? {
              ok: i % 2 === 0,
              error: i % 2 === 0 ? undefined : `e${i}`,
              errorsTotal: i,
              runs: 2,
              lastRunAt: 100 + i,
              durationSeconds: i / 10,
              lastSuccessAt: i === 3 ? undefined : 50 + i,
            }
          : { ok: undefined, errorsTotal: 1, runs: 0 },
        t,
      ),
    );
    expect(summarize(docker)).toEqual({
      name: "docker",
      scope: "user",
      intervalSeconds: 15,
      errorsTotal: 22,
      runs: 14,
      ok: false,
      error: "u1: e1; u3: e3; u5: e5",
      lastRunAt: 106,
      durationSeconds: 0.6,
      lastSuccessAt: undefined,
    });
    docker.slots.delete(key(users[3]!));
    expect(summarize(docker).lastSuccessAt).toBe(50);
    const idle = entry("dbus", "user");
    idle.cycleAt = 5;
    expect(summarize(idle)).toMatchObject({ ok: true, lastRunAt: 5, durationSeconds: 0 });
  });
});
