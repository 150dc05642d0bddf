import { readTextAsync } from "../../host/files.js";
import type { HostRoots } from "../../host/paths.js";
import { procPath } from "../../host/paths.js";
import type { InterfaceCounters } from "../../host/proc-files.js";
import { mappedIds, parseNetDev } from "../../host/proc-files.js";
import type { ProcessInfo } from "../../host/proc.js";
import { flagValue, rootlesskitBoolFlag } from "../../host/proc-parsers.js";
import {
  candidates,
  childPids,
  letLoopIn,
  programName,
  readProcess,
  withArgv,
} from "../../host/proc.js";
import type { Collector } from "../collector.js";
import { idleWith, missingKey } from "../inputs.js";
import type { TargetState } from "../state.js";
import { discovery, processes } from "../scans.js";
import { cycleInfo } from "../rootlesskit/rootlesskit-api.js";
import type { ProcessTable } from "../../host/process-table.js";
import { rootlesskitPrograms } from "../../host/discovery.js";
import { checkPid } from "../../host/pid-files.js";
import type { ConfiguredNetwork } from "./network-config.js";
import { readConfiguredNetwork } from "./network-config.js";
import { dockerUnit } from "../docker-unit.js";
import type { DockerdBinary } from "./detached.js";
import { detachedCounters, dockerdBinary, netDevBytes } from "./detached.js";

/** rootlesskit's network drivers that run as a process of their own (rootlesskit docs/network.md). */
export const networkDrivers = [
  "gvisor-tap-vsock",
  "lxc-user-nic",
  "pasta",
  "slirp4netns",
  "vpnkit",
] as const;

export interface NetworkFacts {
  /** The driver rootlesskit reports, else the one found running; absent without rootlesskit. */
  readonly driver?: string;
  readonly driverProcess?: {
    readonly pid: number;
    readonly cpuSeconds: number;
    readonly rssBytes?: number;
  };
  /** Whether the driver's process is alive; absent for drivers without a process (host, none). */
  readonly driverUp?: boolean;
  readonly mtu?: number;
  readonly childPid?: number;
  /**
   * rootlesskit runs with `--detach-netns` (its argv): the child stays in the host's network
   * namespace and the interfaces are those of `$STATE_DIR/netns`.
   */
  readonly detachedNetns?: boolean;
  /** Of rootlesskit's namespace: the child's, or the detached one. */
  readonly interfaces?: readonly InterfaceCounters[];
  readonly mappedIds?: { readonly uid?: number; readonly gid?: number };
  /**
   * With `--detach-netns` running or configured: the system's dockerd and its `--version`, for a
   * dockerd that dies before its API answers.
   */
  readonly dockerdBinary?: DockerdBinary;
  /** Without rootlesskit: what the user's docker.service would start (network-config.ts). */
  readonly configured?: ConfiguredNetwork;
}

/** pasta is passt under another name, and runs as pasta.avx2 (passt.avx2) on AVX2 CPUs. */
const isPasta = (name: string): boolean => /^(pasta|passt)(\.[a-z0-9]+)?$/.test(name);

function driverName(info: ProcessInfo): string | undefined {
  const names = [programName(info), info.stat.comm, (info.argv[0] ?? "").split("/").pop() ?? ""];
  if (names.some(isPasta)) return "pasta";
  return networkDrivers.find((d) => names.includes(d));
}

/*
 * The driver found for a rootlesskit parent, by pid and start time, kept in the user's target
 * state. Finding it costs a read of every parent thread's children (or, for pasta, a look at the
 * cycle's process table); checking that the same process still lives costs the two reads its
 * CPU and RSS need anyway.
 */
async function findDriver(
  roots: HostRoots,
  uid: number,
  parent: ProcessInfo,
  childPid: number | undefined,
  state: TargetState,
  processes: () => Promise<ProcessTable>,
): Promise<ProcessInfo | undefined> {
  const key = `${roots.procfs}\0${parent.pid}\0${parent.stat.startTicks}\0${childPid ?? ""}`;
  const known = state.knownDriver;
  if (known?.key === key) {
    const info = await readProcess(roots, known.pid, { argv: false });
    if (info && info.stat.startTicks === known.startTicks && driverName(info))
      return withArgv(roots, info, state.argv);
  }
  const found = await searchDriver(roots, uid, parent.pid, childPid, state, processes);
  state.knownDriver = found && { key, pid: found.pid, startTicks: found.stat.startTicks };
  return found;
}

/** Among rootlesskit's children; pasta daemonises, so also the user's processes naming the child. */
async function searchDriver(
  roots: HostRoots,
  uid: number,
  parentPid: number,
  childPid: number | undefined,
  state: TargetState,
  processes: () => Promise<ProcessTable>,
): Promise<ProcessInfo | undefined> {
  // Identify by exe and comm first; only the driver's own arguments are read (its --mtu).
  for (const pid of candidates((await childPids(roots, parentPid)) ?? [])) {
    await letLoopIn();
    const info = await readProcess(roots, pid, { argv: false });
    if (info && driverName(info)) return withArgv(roots, info, state.argv);
  }
  if (childPid === undefined) return undefined;
  const netns = `/proc/${childPid}/ns/net`;
  for (const pid of candidates((await processes()).named(uid, isPasta))) {
    await letLoopIn();
    const info = await readProcess(roots, pid, { argv: true, cache: state.argv });
    if (!info || driverName(info) !== "pasta") continue;
    if (
      info.argv.some(
        (arg) => arg === String(childPid) || arg === netns || arg.endsWith(`=${netns}`),
      )
    )
      return info;
  }
  return undefined;
}

function parseMtu(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,6}$/.test(value) ? Number(value) : undefined;
}

export const networkCollector: Collector<NetworkFacts> = {
  name: "network",
  description:
    "rootlesskit's network driver process, MTU, and the child namespace's interface counters",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  // No rootlesskit and no docker.service: nothing to read, nothing configured.
  inputs: (ctx, again) =>
    idleWith(ctx, () =>
      missingKey(ctx, `${ctx.target.home}/.config/systemd/user/docker.service`, "file", again),
    ),
  async collect(ctx) {
    const { roots, target, state, cycle, note, rpcTimeoutMs, signal } = ctx;
    const found = await discovery(ctx);
    const parent = found.parent;
    if (!parent) {
      note("rootlesskit is not running: no network to watch");
      const configured = await readConfiguredNetwork(
        roots,
        ctx.host.mounts,
        target,
        dockerUnit(cycle, roots, target),
      );
      const binary = configured?.detachNetns
        ? await dockerdBinary(ctx.host, roots, rpcTimeoutMs * 4)
        : undefined;
      return { ...(configured && { configured }), ...(binary && { dockerdBinary: binary }) };
    }
    const answer = found.stateDir
      ? await cycleInfo(cycle, roots, found.stateDir.path, {
          timeoutMs: rpcTimeoutMs,
          signal,
          ownerUid: target.uid,
        })
      : undefined;
    const info = answer?.ok ? answer.value : undefined;
    // The API's child pid is the user's to say: used only when /proc shows it is their rootlesskit
    // (root would otherwise read and export another process's namespace counters and id maps).
    const apiChild = info?.childPid;
    const childPid =
      found.child?.pid ??
      (apiChild !== undefined &&
      (await checkPid(roots, apiChild, target.uid, rootlesskitPrograms)).state === "ok"
        ? apiChild
        : undefined);
    const driverProcess = await findDriver(roots, target.uid, parent, childPid, state, () =>
      processes(cycle, roots),
    );
    // The API's answer, else the process found, else what the parent was started with: with
    // the API down and the driver dead, --net still says which driver should be running.
    const driver =
      info?.networkDriver?.driver ??
      (driverProcess && driverName(driverProcess)) ??
      flagValue(parent.argv, "--net");
    const needsProcess =
      driver !== undefined && (networkDrivers as readonly string[]).includes(driver);
    const mtu =
      parseMtu(driverProcess && flagValue(driverProcess.argv, "--mtu", "-m")) ??
      parseMtu(flagValue(parent.argv, "--mtu"));

    const detached = rootlesskitBoolFlag(parent.argv, "detach-netns") === true;
    let interfaces: InterfaceCounters[] | undefined;
    let ids: NetworkFacts["mappedIds"];
    if (childPid !== undefined) {
      const stateDir = found.stateDir?.path;
      const [netDev, uidMap, gidMap] = await Promise.all(
        // The user can make thousands of interfaces in their namespace: read off the loop, bounded.
        [
          ["net/dev", netDevBytes],
          ["uid_map", 64 * 1024],
          ["gid_map", 64 * 1024],
        ].map(([file, limit]) =>
          // Detached, the child's net/dev is the host's: never read it as the user's.
          file === "net/dev" && detached
            ? undefined
            : readTextAsync(procPath(roots, String(childPid), String(file)), Number(limit)),
        ),
      );
      if (detached) {
        const read = stateDir
          ? await detachedCounters(roots, target, childPid, stateDir, rpcTimeoutMs, signal).catch(
              (err: unknown) => ({ ok: false as const, error: String(err) }),
            )
          : { ok: false as const, error: "no state dir of the user's own was found" };
        if (read.ok) interfaces = read.interfaces;
        else note(`the detached network namespace's counters are unknown: ${read.error}`);
      } else if (netDev?.ok) interfaces = parseNetDev(netDev.text);
      else note(`/proc/${childPid}/net/dev is unreadable`);
      const uid = uidMap?.ok ? mappedIds(uidMap.text) : undefined;
      const gid = gidMap?.ok ? mappedIds(gidMap.text) : undefined;
      ids = { ...(uid !== undefined && { uid }), ...(gid !== undefined && { gid }) };
    }
    const binary = detached ? await dockerdBinary(ctx.host, roots, rpcTimeoutMs * 4) : undefined;
    return {
      ...(driver && { driver }),
      ...(binary && { dockerdBinary: binary }),
      ...(driverProcess && {
        driverProcess: {
          pid: driverProcess.pid,
          cpuSeconds: driverProcess.stat.cpuSeconds,
          ...(driverProcess.status.rssBytes !== undefined && {
            rssBytes: driverProcess.status.rssBytes,
          }),
        },
      }),
      ...(needsProcess && { driverUp: driverProcess !== undefined }),
      ...(mtu !== undefined && { mtu }),
      ...(childPid !== undefined && { childPid }),
      ...(detached && { detachedNetns: true }),
      ...(interfaces && { interfaces }),
      ...(ids && { mappedIds: ids }),
    };
  },
};
