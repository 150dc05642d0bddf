import type { DbusClient } from "../../host/dbus.js";
import { variantValue } from "../../host/dbus-pool.js";

/**
 * UnitFileState values, as systemd's unit_file_state_table spells them (systemctl(1), is-enabled).
 * `alias` since systemd 240. The manager answers "" for a unit with no unit file (not-found).
 */
export const unitFileStates = [
  "enabled",
  "enabled-runtime",
  "linked",
  "linked-runtime",
  "alias",
  "masked",
  "masked-runtime",
  "static",
  "indirect",
  "disabled",
  "generated",
  "transient",
  "bad",
] as const;

export type UnitFileState = (typeof unitFileStates)[number];

/** A value the manager gave that is none of the above: labelled this, never echoed. */
export const otherFileState = "other";

export interface UnitProperties {
  /** Service.NRestarts (systemd >= 235); absent when unknown. */
  readonly restarts?: number;
  /** Unit.UnitFileState as the manager said it; absent when unknown or "" (no unit file). */
  readonly fileState?: string;
}

/** The user's manager runs on the user's bus: what it says is bounded before it is kept. */
const maxFileStateChars = 64;

/**
 * The unit's object path, as sd_bus_path_encode("/org/freedesktop/systemd1/unit", name) makes it:
 * every character but [A-Za-z] (and [0-9] after the first) as _xx. Unit names here are ASCII (the
 * `units` option's pattern). Asking for the path loads the unit, as LoadUnit would (systemd's
 * find_unit), so it needs no ListUnitsByNames answer first.
 */
export function unitObjectPath(unit: string): string {
  const escaped = Array.from(unit, (c, i) =>
    /[A-Za-z]/.test(c) || (i > 0 && /[0-9]/.test(c))
      ? c
      : `_${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  ).join("");
  return `/org/freedesktop/systemd1/unit/${escaped || "_"}`;
}

async function getProperty(
  client: DbusClient,
  unit: string,
  iface: string,
  property: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<unknown> {
  const body = await client.call(
    {
      destination: "org.freedesktop.systemd1",
      path: unitObjectPath(unit),
      interface: "org.freedesktop.DBus.Properties",
      member: "Get",
      signature: "ss",
      body: [iface, property],
    },
    timeoutMs,
    signal,
  );
  return variantValue(body);
}

const counterValue = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff
    ? value
    : undefined;

const fileStateValue = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value.slice(0, maxFileStateChars) : undefined;

/** A failed Get (no such property before systemd 235, a timeout, no manager) leaves it out. */
const orUndefined = <T>(read: Promise<T>): Promise<T | undefined> => read.catch(() => undefined);

/**
 * UnitFileState of each unit and NRestarts of each service, all sent at once: with the Ping and
 * ListUnitsByNames the collector sends beside them, the whole query is one round trip. Each Get
 * is bounded by the timeout and the signal; what does not answer is left out, never 0.
 */
export async function readUnitProperties(
  client: DbusClient,
  names: readonly string[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<UnitProperties[]> {
  return Promise.all(
    names.map(async (unit): Promise<UnitProperties> => {
      const fileState = orUndefined(
        getProperty(
          client,
          unit,
          "org.freedesktop.systemd1.Unit",
          "UnitFileState",
          timeoutMs,
          signal,
        ),
      );
      const restarts = unit.endsWith(".service")
        ? orUndefined(
            getProperty(
              client,
              unit,
              "org.freedesktop.systemd1.Service",
              "NRestarts",
              timeoutMs,
              signal,
            ),
          )
        : Promise.resolve(undefined);
      const [state, count] = [fileStateValue(await fileState), counterValue(await restarts)];
      return {
        ...(count !== undefined ? { restarts: count } : {}),
        ...(state !== undefined ? { fileState: state } : {}),
      };
    }),
  );
}

/** The label a unit file state is served under: one of the closed set, or "other". */
export function fileStateLabel(state: string): UnitFileState | typeof otherFileState {
  return (unitFileStates as readonly string[]).includes(state)
    ? (state as UnitFileState)
    : otherFileState;
}
