import type { DbusClient } from "../../host/dbus.js";
import { busPing, DbusCallError, timeoutError } from "../../host/dbus.js";
import { variantValue } from "../../host/dbus-pool.js";
import { rootPath } from "../../host/paths.js";
import type { Collector } from "../collector.js";
import { idleKey } from "../inputs.js";
import { entryNow, runtimeNames } from "../live-inputs.js";
import { runtimeDir } from "../scans.js";
import type { UnitProperties } from "./unit-properties.js";
import { readUnitProperties } from "./unit-properties.js";

/** ActiveState values of systemd units (org.freedesktop.systemd1(5)). */
export const unitStates = [
  "active",
  "reloading",
  "inactive",
  "failed",
  "activating",
  "deactivating",
] as const;

export interface UnitFact extends UnitProperties {
  readonly unit: string;
  /** Absent when the manager could not say. */
  readonly activeState?: string;
  readonly error?: string;
}

export interface DbusFacts {
  readonly address: string;
  readonly busUp: boolean;
  readonly pingSeconds?: number;
  readonly error?: string;
  /** Absent when the bus is down or the user manager (org.freedesktop.systemd1) does not answer. */
  readonly units?: readonly UnitFact[];
}

const manager = { destination: "org.freedesktop.systemd1", path: "/org/freedesktop/systemd1" };

/** DBUS_SESSION_BUS_ADDRESS for the exporter's own user, else $XDG_RUNTIME_DIR/bus. */
export function userBusAddress(
  runtimeDirOnHost: string,
  sessionAddress: string | undefined,
): string {
  return sessionAddress && sessionAddress.length > 0
    ? sessionAddress
    : `unix:path=${runtimeDirOnHost}/bus`;
}

/** The manager is not there (or not answering): nothing it would say is known. */
function managerAbsent(err: unknown): boolean {
  const name = err instanceof DbusCallError ? err.name : "";
  return (
    name.endsWith("ServiceUnknown") || name.endsWith("NameHasNoOwner") || name === timeoutError
  );
}

/**
 * ActiveState of each unit: one ListUnitsByNames call (systemd >= 230) answers for all of them,
 * one entry per name in the order asked, loading units as needed, as LoadUnit would (an alias
 * such as dbus.service -> dbus-broker.service answers under the unit's own name, hence by
 * position). Older managers get LoadUnit and a Get of ActiveState per unit. Throws when the
 * manager is absent; a failure about one unit is that unit's error.
 */
async function readUnitStates(
  client: DbusClient,
  names: readonly string[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<UnitFact[]> {
  if (names.length === 0) return [];
  try {
    const [entries] = await client.call(
      {
        ...manager,
        interface: "org.freedesktop.systemd1.Manager",
        member: "ListUnitsByNames",
        signature: "as",
        body: [names],
      },
      timeoutMs,
      signal,
    );
    if (!Array.isArray(entries) || entries.length !== names.length) {
      const error = "ListUnitsByNames answered an unexpected shape";
      return names.map((unit) => ({ unit, error }));
    }
    return names.map((unit, i) => {
      const activeState = (entries[i] as unknown[] | undefined)?.[3];
      return typeof activeState === "string"
        ? { unit, activeState }
        : { unit, error: "ActiveState is not a string" };
    });
  } catch (err) {
    if (managerAbsent(err)) throw err;
    const name = err instanceof DbusCallError ? err.name : "";
    if (!name.endsWith("UnknownMethod"))
      return names.map((unit) => ({ unit, error: describe(err) }));
  }
  const units: UnitFact[] = [];
  for (const unit of names) {
    try {
      const [path] = await client.call(
        {
          ...manager,
          interface: "org.freedesktop.systemd1.Manager",
          member: "LoadUnit",
          signature: "s",
          body: [unit],
        },
        timeoutMs,
        signal,
      );
      const state = await client.call(
        {
          destination: manager.destination,
          path: String(path),
          interface: "org.freedesktop.DBus.Properties",
          member: "Get",
          signature: "ss",
          body: ["org.freedesktop.systemd1.Unit", "ActiveState"],
        },
        timeoutMs,
        signal,
      );
      const activeState = variantValue(state);
      units.push(
        typeof activeState === "string"
          ? { unit, activeState }
          : { unit, error: "ActiveState is not a string" },
      );
    } catch (err) {
      if (managerAbsent(err)) throw err;
      units.push({ unit, error: describe(err) });
    }
  }
  return units;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const dbusCollector: Collector<DbusFacts> = {
  name: "dbus",
  description:
    "the user's D-Bus session bus, and the state, unit file state and restarts of its user units",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  options: [
    {
      name: "units",
      help: "comma-separated user units whose state is exported",
      defaultValue: "docker.service,dbus.service,dbus.socket",
      validate: (value) =>
        value
          .split(",")
          .every((u) => /^[\w@.:-]+\.(service|socket|target|timer|scope|slice|path|mount)$/.test(u))
          ? undefined
          : "expected unit names such as docker.service,dbus.socket",
    },
  ],
  // No runtime dir: no bus to connect to, said without a connection (a live bus is always asked).
  inputs: idleKey,
  async collect(ctx) {
    const { roots, target, state, self, env, note, option, rpcTimeoutMs, cycle } = ctx;
    const address = userBusAddress(
      rootPath(roots, target.runtimeDir),
      self ? env["DBUS_SESSION_BUS_ADDRESS"] : undefined,
    );
    if (!self) {
      // No runtime dir, no $XDG_RUNTIME_DIR/bus: most users of a host, who are not logged in. A
      // connect as the user (three id switches, a client) cost 1 ms each (bench/host-mode.mjs).
      const dir = await runtimeDir(cycle, roots, target);
      if (!dir.ok && dir.state === "missing") {
        note(`user bus ${address}: ${dir.detail}`);
        return { address, busUp: false, error: dir.detail };
      }
      // No socket in the user's own runtime dir (no dbus-user-session): said by the same safe
      // walk, without connecting as the user (three id switches a call). Anything else there,
      // a symlink included, is left to the connect made as the user, which decides.
      if ((await entryNow(ctx, target.runtimeDir, runtimeNames, "bus", "socket")) === "missing") {
        const detail = `${rootPath(roots, target.runtimeDir)}/bus does not exist`;
        note(`user bus ${address}: ${detail}`);
        return { address, busUp: false, error: detail };
      }
    }
    // The user's own pool: when the exporter is root, it connects with the user's credentials.
    const client = state.userBus.get(address);
    const names = option("units")
      .split(",")
      .filter((u) => u !== "");
    // The unit queries go out right behind the ping, in the same round trip (none waits for an
    // answer); they are judged only once the ping has shown the bus up.
    const started = performance.now();
    const signal = ctx.signal;
    const ping = client.call(busPing, rpcTimeoutMs, signal);
    const states = readUnitStates(client, names, rpcTimeoutMs, signal);
    states.catch(() => undefined);
    const properties = readUnitProperties(client, names, rpcTimeoutMs, signal);
    try {
      await ping;
    } catch (err) {
      note(`user bus ${address}: ${describe(err)}`);
      return { address, busUp: false, error: describe(err) };
    }
    const pingSeconds = (performance.now() - started) / 1000;
    let managerDown: string | undefined;
    let units: UnitFact[] = [];
    try {
      const read = await states;
      const more = await properties;
      units = read.map((unit, i) => ({ ...unit, ...more[i] }));
    } catch (err) {
      // No user manager on the bus at all: unit states are unknown, not "inactive".
      managerDown = describe(err);
    }
    if (managerDown) note(`systemd user manager: ${managerDown}`);
    return {
      address,
      busUp: true,
      pingSeconds,
      ...(managerDown ? { error: managerDown } : { units }),
    };
  },
};
