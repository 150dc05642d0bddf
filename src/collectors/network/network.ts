import { readTextAsync } from "../../host/files.js";
import { procPath } from "../../host/paths.js";
import type { InterfaceCounters } from "../../host/proc-files.js";
import { mappedIds, parseNetDev } from "../../host/proc-files.js";
import type { ProcessInfo } from "../../host/proc.js";
import { readNetDev } from "../../host/proc.js";
import { flagValue, rootlesskitBoolFlag } from "../../host/proc-parsers.js";
import { rootlesskitPrograms } from "../../host/discovery.js";
import { checkPid } from "../../host/pid-files.js";
import type { Collector, UserContext } from "../collector.js";
import { dockerUnit } from "../docker-unit.js";
import { idleKey, keyPart, missingKey } from "../inputs.js";
import type { StaticPart } from "../live-inputs.js";
import {
  dirKey,
  entryKey,
  entryNow,
  liveWith,
  pathKey,
  runtimeDirKey,
  runtimeNames,
  stateNames,
} from "../live-inputs.js";
import { cycleInfo } from "../rootlesskit/rootlesskit-api.js";
import { discovery, processes } from "../scans.js";
import { kept } from "../state.js";
import type { DockerdBinary } from "./detached.js";
import { detachedCounters, dockerdBinary, netDevBytes } from "./detached.js";
import { driverName, driverNow, findDriver, networkDrivers, parseMtu } from "./driver.js";
import type { ConfiguredNetwork } from "./network-config.js";
import { readConfiguredNetwork, scriptDefault } from "./network-config.js";

export { networkDrivers } from "./driver.js";

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

/** What a full run found with rootlesskit running, not detached: the live part's inputs. */
interface NetworkStatic {
  /** The facts with nothing live in them: complete when `live` is absent. */
  readonly base: NetworkFacts;
  readonly live?: {
    readonly stateDir?: string;
    readonly argvDriver?: string;
    readonly processDriver?: string;
    readonly driverProcess?: { readonly pid: number; readonly startTicks: number };
    readonly childPid?: number;
  };
}

/** The static part of the last full run, for the refreshes after it (live-inputs.ts). */
const lastStatic = kept("network.static", (): StaticPart<NetworkStatic> => ({ part: undefined }));

/**
 * The live figures over a static part: the API's driver, the driver process's CPU and RSS (the
 * same process, by pid and start time, else undefined: a full run), the namespace's counters.
 */
async function livePart(
  ctx: UserContext,
  part: NetworkStatic,
  driverInfo?: ProcessInfo,
): Promise<NetworkFacts | undefined> {
  const { roots, target, cycle, note, rpcTimeoutMs } = ctx;
  const live = part.live;
  if (!live) return part.base;
  const dir = live.stateDir;
  // No api.sock in this cycle's look at the state dir: the answer, unasked (rootlesskit's too).
  const missing =
    dir !== undefined &&
    !ctx.self &&
    (await entryNow(ctx, dir, stateNames, "api.sock", "socket")) === "missing";
  const options = {
    timeoutMs: rpcTimeoutMs,
    get signal() {
      return ctx.signal;
    },
    ownerUid: target.uid,
  };
  const answer = dir ? await cycleInfo(cycle, roots, dir, options, missing) : undefined;
  const info = answer?.ok ? answer.value : undefined;
  const known = live.driverProcess;
  const driverProcess = driverInfo ?? (known && (await driverNow(roots, known.pid)));
  if (known && driverProcess?.stat.startTicks !== known.startTicks) return undefined;
  const driver = info?.networkDriver?.driver ?? live.processDriver ?? live.argvDriver;
  const needsProcess =
    driver !== undefined && (networkDrivers as readonly string[]).includes(driver);
  let interfaces: InterfaceCounters[] | undefined;
  if (live.childPid !== undefined) {
    // The user can make thousands of interfaces in their namespace: a usual file read at once,
    // a longer one off the loop, bounded (readNetDev).
    const netDev = await readNetDev(roots, live.childPid, netDevBytes);
    if (netDev.ok) interfaces = parseNetDev(netDev.text);
    else note(`/proc/${live.childPid}/net/dev is unreadable`);
  }
  return {
    ...(driver && { driver }),
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
    ...part.base,
    ...(interfaces && { interfaces }),
  };
}

/** A full run: rootlesskit found, its driver, its namespace's maps; the live part read. */
async function collect(ctx: UserContext): Promise<NetworkFacts> {
  const { roots, target, state, cycle, note, rpcTimeoutMs, signal } = ctx;
  const keep = ctx.state.own(lastStatic);
  keep.part = undefined;
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
    const facts = {
      ...(configured && { configured }),
      ...(binary && { dockerdBinary: binary }),
    };
    keep.part = { base: facts };
    return facts;
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
  const argvDriver = flagValue(parent.argv, "--net");
  const processDriver = driverProcess && driverName(driverProcess);
  const mtu =
    parseMtu(driverProcess && flagValue(driverProcess.argv, "--mtu", "-m")) ??
    parseMtu(flagValue(parent.argv, "--mtu"));

  const detached = rootlesskitBoolFlag(parent.argv, "detach-netns") === true;
  let ids: NetworkFacts["mappedIds"];
  if (childPid !== undefined) {
    const [uidMap, gidMap] = await Promise.all(
      ["uid_map", "gid_map"].map((file) =>
        readTextAsync(procPath(roots, String(childPid), file), 64 * 1024),
      ),
    );
    const uid = uidMap?.ok ? mappedIds(uidMap.text) : undefined;
    const gid = gidMap?.ok ? mappedIds(gidMap.text) : undefined;
    ids = { ...(uid !== undefined && { uid }), ...(gid !== undefined && { gid }) };
  }
  const base = {
    ...(mtu !== undefined && { mtu }),
    ...(childPid !== undefined && { childPid }),
    ...(ids && { mappedIds: ids }),
  };
  const part: NetworkStatic = {
    base,
    live: {
      ...(found.stateDir && { stateDir: found.stateDir.path }),
      ...(argvDriver !== undefined && { argvDriver }),
      ...(processDriver !== undefined && { processDriver }),
      ...(driverProcess && {
        driverProcess: { pid: driverProcess.pid, startTicks: driverProcess.stat.startTicks },
      }),
      // Detached, the child's net/dev is the host's: never read it as the user's.
      ...(childPid !== undefined && !detached && { childPid }),
    },
  };
  if (!detached) {
    // A refused state dir (a symlink, another owner's) is in no key: never reused.
    if (!found.stateDirRefused) keep.part = part;
    return (await livePart(ctx, part, driverProcess ?? undefined)) ?? base;
  }
  // Detached: the namespace's counters through STATE/netns, and the system's dockerd.
  const facts = (await livePart(ctx, part, driverProcess ?? undefined)) ?? base;
  let interfaces: InterfaceCounters[] | undefined;
  if (childPid !== undefined) {
    const stateDir = found.stateDir?.path;
    const read = stateDir
      ? await detachedCounters(roots, target, childPid, stateDir, rpcTimeoutMs, signal).catch(
          (err: unknown) => ({ ok: false as const, error: String(err) }),
        )
      : { ok: false as const, error: "no state dir of the user's own was found" };
    if (read.ok) interfaces = read.interfaces;
    else note(`the detached network namespace's counters are unknown: ${read.error}`);
  }
  const binary = await dockerdBinary(ctx.host, roots, rpcTimeoutMs * 4);
  return {
    ...facts,
    ...(binary && { dockerdBinary: binary }),
    detachedNetns: true,
    ...(interfaces && { interfaces }),
  };
}

export const networkCollector: Collector<NetworkFacts> = {
  name: "network",
  description:
    "rootlesskit's network driver process, MTU, and the child namespace's interface counters",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  // No rootlesskit and no docker.service: nothing to read, nothing configured (idleWith's key).
  // Running (not detached): the same processes, runtime dir, docker.pid and state dir keep the
  // driver, MTU and id maps; the API, the driver's CPU and the counters are re-read by `refresh`.
  inputs: async (ctx, again) => {
    const unit = `${ctx.target.home}/.config/systemd/user/docker.service`;
    const idle = await idleKey(ctx);
    const missing = idle === undefined ? undefined : await missingKey(ctx, unit, "file", again);
    if (idle !== undefined && missing !== undefined) return keyPart(idle) + keyPart(missing);
    const part = ctx.state.own(lastStatic).part;
    // The system dockerd's --version (configured --detach-netns) is the host's: asked every run.
    // A driver the unit does not name is the first of slirp4netns and vpnkit installed, in the
    // user's ~/bin or the host's bin directories, none of which is keyed: asked every run.
    if (!part || part.base.dockerdBinary) return undefined;
    if (part.base.configured?.sources.driver === scriptDefault) return undefined;
    const { runtimeDir } = ctx.target;
    const dir = part.live?.stateDir;
    return liveWith(
      ctx,
      () => runtimeDirKey(ctx, again),
      () => entryKey(ctx, runtimeDir, runtimeNames, "docker.pid", "file", again),
      () => entryKey(ctx, runtimeDir, runtimeNames, "dockerd-rootless", "directory", again),
      async () => JSON.stringify(dir ?? null),
      ...(dir === undefined ? [] : [() => dirKey(ctx, dir, stateNames, again)]),
      // Read only without rootlesskit: the unit, and no drop-ins (their files are not keyed).
      ...(part.live
        ? []
        : [
            () => pathKey(ctx, unit, "file", again),
            async () => {
              const dropIns = await pathKey(ctx, `${unit}.d`, "directory", again);
              return dropIns?.startsWith("missing ") ? dropIns : undefined;
            },
          ]),
    );
  },
  collect,
  async refresh(ctx, last) {
    const part = ctx.state.own(lastStatic).part;
    if (!part) return collect(ctx);
    if (!part.live) return last;
    // The driver process gone or replaced under its pid: a full run finds what runs now.
    return (await livePart(ctx, part)) ?? collect(ctx);
  },
};
