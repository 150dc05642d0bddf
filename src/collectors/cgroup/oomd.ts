import type { DbusPool } from "../../host/dbus-pool.js";
import { variantValue } from "../../host/dbus-pool.js";
import type { Cycle } from "../state.js";

/*
 * Whether systemd-oomd may kill under user@UID.service (systemd 19142, podman 19829): oomd acts on
 * the units whose ManagedOOMMemoryPressure is "kill" (systemd.resource-control(5)), and picks a
 * cgroup below one of them, which for a rootless Docker can be the one holding every container.
 * Read from the system manager over the system bus, as `systemctl show` does (a unit's object
 * path is its name escaped; reading it loads the unit). Settings the user's own manager reports
 * to oomd for the user's units are not read.
 */

export interface OomdFacts {
  /** systemd-oomd.service's ActiveState is "active". */
  readonly active: boolean;
  /** ManagedOOMMemoryPressure ("auto" or "kill") of user@UID.service and the slices above it. */
  readonly memoryPressure: readonly { readonly unit: string; readonly value: string }[];
  /** The nearest of those units set to "kill", when oomd runs: what oomd watches. */
  readonly watchedBy?: string;
}

const systemd1 = "org.freedesktop.systemd1";

/** sd-bus's label escape: every byte that is not a letter or digit as _XX. */
export function unitObjectPath(unit: string): string {
  const label = Array.from(Buffer.from(unit, "utf8"))
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9]/.test(c) ? c : `_${byte.toString(16).padStart(2, "0")}`;
    })
    .join("");
  return `/org/freedesktop/systemd1/unit/${label}`;
}

/** The units between the user's manager and the root slice, nearest first. */
export const userUnits = (uid: number) => [
  { unit: `user@${uid}.service`, iface: `${systemd1}.Service` },
  { unit: `user-${uid}.slice`, iface: `${systemd1}.Slice` },
  { unit: "user.slice", iface: `${systemd1}.Slice` },
];

interface Ask {
  readonly pool: DbusPool;
  readonly address: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

async function property(ask: Ask, unit: string, iface: string, name: string): Promise<unknown> {
  const reply = await ask.pool.get(ask.address).call(
    {
      destination: systemd1,
      path: unitObjectPath(unit),
      interface: "org.freedesktop.DBus.Properties",
      member: "Get",
      signature: "ss",
      body: [iface, name],
    },
    ask.timeoutMs,
    ask.signal,
  );
  return variantValue(reply);
}

/** Once a cycle for every user: oomd's state and user.slice's setting are the host's. */
export async function readOomd(ask: Ask, cycle: Cycle, uid: number): Promise<OomdFacts> {
  const active = cycle.once("oomd-active", async () => {
    const state = await property(ask, "systemd-oomd.service", `${systemd1}.Unit`, "ActiveState");
    if (typeof state !== "string") throw new Error("ActiveState is not a string");
    return state === "active";
  });
  const settings = userUnits(uid).map(async ({ unit, iface }) => {
    const read = () => property(ask, unit, iface, "ManagedOOMMemoryPressure");
    const value = await (unit === "user.slice" ? cycle.once("oomd-user.slice", read) : read());
    if (typeof value !== "string" || !/^[a-z-]{1,16}$/.test(value))
      throw new Error(`${unit}: ManagedOOMMemoryPressure is not a plain word`);
    return { unit, value };
  });
  const [running, memoryPressure] = await Promise.all([active, Promise.all(settings)]);
  const watched = running ? memoryPressure.find((s) => s.value === "kill") : undefined;
  return { active: running, memoryPressure, ...(watched && { watchedBy: watched.unit }) };
}
