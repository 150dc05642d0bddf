import { DbusCallError } from "../../host/dbus.js";
import type { DbusPool } from "../../host/dbus-pool.js";
import { variantValue } from "../../host/dbus-pool.js";
import type { ListResult } from "../../host/files.js";
import { listDir, lstatPath, statPath } from "../../host/files.js";
import type { MountTable } from "../../host/mount-table.js";
import type { HostRoots } from "../../host/paths.js";
import { rootPath } from "../../host/paths.js";
import type { Target } from "../../host/target.js";
import type { Collector } from "../collector.js";
import type { Cycle } from "../state.js";

export interface LingerFacts {
  /** Absent when no source could tell. */
  readonly enabled?: boolean;
  /** Who answered: logind over the system bus, the linger file, or nobody. */
  readonly source: "logind" | "file" | "none";
  /** Why logind did not answer, when the file had to. */
  readonly logindError?: string;
}

/** logind keeps one empty file per lingering user in /var/lib/systemd/linger (loginctl(1)). */
export const lingerDir = "/var/lib/systemd/linger";

const login1 = "org.freedesktop.login1";

/** DBUS_SYSTEM_BUS_ADDRESS, else the standard socket under the root filesystem. */
export function systemBusAddress(
  roots: HostRoots,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const fromEnv = env["DBUS_SYSTEM_BUS_ADDRESS"];
  return fromEnv && fromEnv.length > 0
    ? fromEnv
    : `unix:path=${rootPath(roots, "/run/dbus/system_bus_socket")}`;
}

/**
 * The system bus's socket looked at once a cycle: when it is missing, every user's call would
 * fail on the same lstat (host/dbus.ts) with this message, so none is made. Undefined when it
 * is there (or the address is no unix:path): the calls are made, and answered live. A connection
 * made before the socket was removed is not used then either.
 */
export function systemBusMissing(cycle: Cycle, address: string): Promise<string | undefined> {
  const socket = /^unix:path=([^,;]+)/.exec(address)?.[1];
  if (socket === undefined) return Promise.resolve(undefined);
  return cycle.once(`system-bus-missing\0${address}`, async () => {
    const present = await lstatPath(socket);
    return present.ok ? undefined : `${address}: ${present.detail}`;
  });
}

/**
 * The system bus's address and systemBusMissing's answer, once a cycle for every user's linger and
 * cgroup runs (no address string, key string or regular expression a user): made for the first
 * roots and environment asked, which are the configuration's, the same objects in every run of a
 * cycle; others (none in the exporter) are answered as before.
 */
export function systemBus(
  cycle: Cycle,
  roots: HostRoots,
  env: Readonly<Record<string, string | undefined>>,
): { readonly address: string; readonly missing: Promise<string | undefined> } {
  const bus = cycle.once("system-bus", newSystemBusMemo);
  if (bus.missing === undefined) {
    bus.roots = roots;
    bus.env = env;
    bus.address = systemBusAddress(roots, env);
    bus.missing = systemBusMissing(cycle, bus.address);
  }
  if (bus.roots === roots && bus.env === env)
    return bus as { address: string; missing: Promise<string | undefined> };
  const address = systemBusAddress(roots, env);
  return { address, missing: systemBusMissing(cycle, address) };
}

interface SystemBusMemo {
  roots?: HostRoots;
  env?: Readonly<Record<string, string | undefined>>;
  address?: string;
  missing?: Promise<string | undefined>;
}

const newSystemBusMemo = (): SystemBusMemo => ({});

/**
 * logind's User.Linger; NoSuchUser means neither logged in nor lingering, so linger is off.
 * logind names a user's object /org/freedesktop/login1/user/_UID: its Linger is asked for in the
 * same round trip as GetUser, and used when GetUser confirms that path (else asked again).
 */
async function fromLogind(
  pool: DbusPool,
  address: string,
  uid: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ enabled: boolean } | { error: string }> {
  const client = pool.get(address);
  const lingerOf = (path: string) =>
    client.call(
      {
        destination: login1,
        path,
        interface: "org.freedesktop.DBus.Properties",
        member: "Get",
        signature: "ss",
        body: [`${login1}.User`, "Linger"],
      },
      timeoutMs,
      signal,
    );
  const usual = `/org/freedesktop/login1/user/_${uid}`;
  const early = lingerOf(usual);
  early.catch(() => undefined); // judged only once GetUser has answered
  try {
    const [path] = await client.call(
      {
        destination: login1,
        path: "/org/freedesktop/login1",
        interface: `${login1}.Manager`,
        member: "GetUser",
        signature: "u",
        body: [uid],
      },
      timeoutMs,
      signal,
    );
    const reply = await (path === usual ? early : lingerOf(String(path)));
    const linger = variantValue(reply);
    return typeof linger === "boolean"
      ? { enabled: linger }
      : { error: "User.Linger is not a boolean" };
  } catch (err) {
    if (err instanceof DbusCallError && err.name === `${login1}.NoSuchUser`)
      return { enabled: false };
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** The user's file in the linger directory, which the cycle lists once for every user. */
async function fromFile(
  roots: HostRoots,
  mounts: MountTable,
  target: Target,
  listing: ListResult,
  note: (m: string) => void,
): Promise<boolean | undefined> {
  if (listing.ok) return listing.names.includes(target.name);
  // No directory: nobody lingers.
  if (listing.reason === "missing") return false;
  // Unlistable: the file itself may still be there to stat.
  const file = await statPath(mounts, rootPath(roots, `${lingerDir}/${target.name}`));
  if (file.ok) return true;
  note(`${lingerDir}: ${listing.detail}; linger is unknown`);
  return undefined;
}

/** The names in logind's linger directory, listed once a cycle for every user. */
export const lingering = (
  cycle: Cycle,
  roots: HostRoots,
  mounts: MountTable,
): Promise<ListResult> =>
  cycle.once("linger-list", () => listDir(mounts, rootPath(roots, lingerDir)));

export const lingerCollector: Collector<LingerFacts> = {
  name: "linger",
  description: "systemd-logind linger: without it the user's daemon dies at logout",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect(ctx) {
    const { roots, target, host, cycle, env, note, rpcTimeoutMs } = ctx;
    const bus = systemBus(cycle, roots, env);
    const address = bus.address;
    const missing = await bus.missing;
    const logind = missing
      ? { error: missing }
      : await fromLogind(host.systemBus, address, target.uid, rpcTimeoutMs, ctx.signal);
    if ("enabled" in logind) return { enabled: logind.enabled, source: "logind" };
    note(`logind on ${address} did not answer (${logind.error}); reading ${lingerDir}`);
    const enabled = await fromFile(
      roots,
      host.mounts,
      target,
      await lingering(cycle, roots, host.mounts),
      note,
    );
    return enabled === undefined
      ? { source: "none", logindError: logind.error }
      : { enabled, source: "file", logindError: logind.error };
  },
};
