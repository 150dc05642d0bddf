import type { Logger } from "pino";
import { pino } from "pino";
import type { UserCollector, UserContext } from "../../src/collectors/collector.js";
import { HostState } from "../../src/collectors/state.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";
import type { Entry, RunState } from "../../src/exporter/schedule/ledger.js";
import type { CollectorSet } from "../../src/exporter/schedule/scheduler.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { TriggerFactory } from "../../src/exporter/schedule/trigger.js";

// The runrev review's scripted collectors and scheduler (test/unit/runrev-*.test.ts): the
// scheduler's public API and its entries' slots only, the same on main (a314b87) and wt/runpath.

export interface Facts {
  readonly n: number;
}

export const user = (name: string, uid: number): Target => ({
  name,
  uid,
  gid: uid,
  groups: [uid],
  home: `/home/${name}`,
  runtimeDir: `/run/user/${uid}`,
});

export interface Fake extends UserCollector<Facts> {
  collects: number;
  refreshes: number;
  /** What the next key (before a collection: `again` false), collection and refresh do. */
  key: (ctx: UserContext, again: boolean) => Promise<string | undefined>;
  work: (ctx: UserContext) => Promise<Facts>;
}

/** A user collector whose key and collection the test scripts; keyed unless `keyed` is false. */
export function fake(
  name: string,
  opts: { keyed?: boolean; timeoutMs?: number; refresh?: boolean } = {},
): Fake {
  const c: Fake = {
    name,
    scope: "user",
    description: name,
    defaultEnabled: true,
    defaultIntervalSeconds: 15,
    collects: 0,
    refreshes: 0,
    key: () => Promise.resolve("k"),
    work: () => Promise.resolve({ n: ++c.collects }),
    collect: (ctx) => c.work(ctx),
    ...(opts.keyed !== false && {
      inputs: (ctx: UserContext, again: boolean) => c.key(ctx, again),
    }),
    ...(opts.refresh === true && {
      refresh: (_ctx: UserContext, last: Facts) => {
        c.refreshes++;
        return Promise.resolve(last);
      },
    }),
    ...(opts.timeoutMs !== undefined && { runTimeoutMs: () => opts.timeoutMs ?? 0 }),
  };
  return c;
}

export function scheduler<F>(
  collectors: CollectorSet<F>,
  users: () => Target[],
  log: Logger = pino({ level: "silent" }),
  roots: HostRoots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
): { s: Scheduler<F>; fire: () => void } {
  let fire = (): void => undefined;
  const trigger: TriggerFactory = (_interval, _name, f) => {
    fire = f;
    return { stop: () => undefined };
  };
  const s = new Scheduler<F>({
    collectors,
    settings: Object.keys(collectors).map((name) => ({ name, enabled: true, intervalSeconds: 15 })),
    roots,
    targets: { wants: () => true, resolve: () => Promise.resolve(users()) },
    host: new HostState(),
    timeoutMs: 1000,
    rpcTimeoutMs: 500,
    collectorOptions: {},
    env: {},
    log,
    trigger,
  });
  return { s, fire: () => fire() };
}

/**
 * The state of `collector`'s slot for the user `name` (uid, error, duration, counts): read from
 * the scheduler's entries (private, the same shape on main and on the branch), as the
 * rootless_collector_* series per user are.
 */
export function runOf<F>(
  s: Scheduler<F>,
  collector: string,
  name: string,
): RunState<unknown> | undefined {
  const { entries } = s as unknown as { entries: Entry<F, keyof F>[] };
  const entry = entries.find((e) => e.name === collector);
  for (const slot of entry?.slots.values() ?? [])
    if (slot.target?.name === name) return slot.state as RunState<unknown>;
  return undefined;
}

export const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
export const after = <T>(ms: number, value: T): Promise<T> =>
  new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
export const failAfter = (ms: number, message: string): Promise<never> =>
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error(message)), ms));
