import { readKernelText, statKernelPath } from "../../host/files.js";
import { procPath, rootPath } from "../../host/paths.js";
import type { FileLock } from "../../host/proc.js";
import { bootTime, parseLocks } from "../../host/proc.js";
import { clockTicksPerSecond, rootlesskitBoolFlag } from "../../host/proc-parsers.js";
import { statUserPath } from "../../host/user-files.js";
import type { Collector } from "../collector.js";
import { idleKey } from "../inputs.js";
import { RestartCounter } from "../restarts.js";
import { discovery, walkMemo } from "../scans.js";
import type { HostState } from "../state.js";
import { kept } from "../state.js";
import type { HostRoots } from "../../host/paths.js";
import type { StateDirSource } from "../../host/discovery.js";
import { rootlesskitPrograms } from "../../host/discovery.js";
import type { PidFileState } from "../../host/pid-files.js";
import { checkPidFile } from "../../host/pid-files.js";
import type { PortForward, RootlesskitInfo } from "./rootlesskit-api.js";
import { cycleInfo, parsePorts, queryApi } from "./rootlesskit-api.js";

export interface RootlesskitFacts {
  readonly up: boolean;
  readonly dockerPidFile: PidFileState;
  readonly parentPid?: number;
  readonly childPid?: number;
  readonly startTimeSeconds?: number;
  /** Whether the running rootlesskit was started with `--detach-netns` (its argv). */
  readonly detachNetns?: boolean;
  /**
   * Whether the state dir holds `netns`, the user's own regular file: from the host's mount
   * namespace the detached namespace's bind mount is that empty file. Absent when not looked at
   * or refused (a symlink, someone else's file).
   */
  readonly netnsFile?: boolean;
  /** New rootlesskit parents (pid and start time) seen since the user was first watched. */
  readonly restarts?: number;
  readonly stateDir?: { readonly path: string; readonly source: StateDirSource };
  /** The state dir rootlesskit names is not the user's own directory: nothing in it was used. */
  readonly stateDirRefused?: { readonly source: StateDirSource; readonly state: string };
  readonly apiUp: boolean;
  readonly apiError?: string;
  readonly info?: RootlesskitInfo;
  readonly ports?: readonly PortForward[];
  /** Absent when no state dir was found to judge. */
  readonly stateDirStale?: boolean;
  readonly staleReason?: string;
}

/** Is the state dir's lock held by a live process? Undefined when it cannot be told. */
async function lockHolder(
  path: string,
  uid: number,
  locks: readonly FileLock[] | undefined,
  exists: (pid: number) => Promise<boolean>,
) {
  const lock = await statUserPath(path, uid, "file");
  if (!lock.ok || !locks) return undefined;
  // /proc/locks prints MAJOR:MINOR in hex; st_dev is the kernel's new_encode_dev() of them.
  const dev = lock.stats.dev;
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  const device = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
  const holders = locks.filter(
    (l) => l.inode === lock.stats.ino && l.device === device && l.pid > 0,
  );
  for (const holder of holders) if (await exists(holder.pid)) return true;
  return false;
}

/** Boot time is fixed until the next boot, and /proc/stat grows with the CPU count: read once. */
const bootTimeKept = kept(
  "rootlesskit.boot-time",
  (): { at?: Promise<number | undefined> } => ({}),
);

export const bootTimeOnce = (host: HostState, roots: HostRoots): Promise<number | undefined> =>
  (host.own(bootTimeKept).at ??= bootTime(roots));

/** The rootlesskit parents a user has had, kept while the user is watched. */
const parentSeen = kept("rootlesskit.restarts", () => new RestartCounter());

export const rootlesskitCollector: Collector<RootlesskitFacts> = {
  name: "rootlesskit",
  description: "the rootlesskit process, its state dir and its REST API (api.sock)",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  // Nothing running, no runtime dir, no state dir: the discovery finds nothing, and says so.
  inputs: idleKey,
  async collect(ctx) {
    const { roots, target, cycle, host, note, rpcTimeoutMs, signal } = ctx;
    const found = await discovery(ctx);
    if (found.pidFile.state !== "ok") note(`docker.pid: ${found.pidFile.detail}`);
    const parent = found.parent;
    const btime = parent ? await bootTimeOnce(host, roots) : undefined;
    const base = {
      up: parent !== undefined,
      restarts: ctx.state.own(parentSeen).see(parent),
      dockerPidFile: found.pidFile.state,
      ...(parent && { parentPid: parent.pid }),
      ...(parent && { detachNetns: rootlesskitBoolFlag(parent.argv, "detach-netns") === true }),
      ...(found.child && { childPid: found.child.pid }),
      ...(parent &&
        btime !== undefined && {
          startTimeSeconds: btime + parent.stat.startTicks / clockTicksPerSecond,
        }),
      ...(found.stateDir && { stateDir: found.stateDir }),
    };
    if (found.stateDirRefused) {
      const { source, state: refusal, detail } = found.stateDirRefused;
      note(`rootlesskit state dir (${source}) not used: ${detail}`);
      return { ...base, stateDirRefused: { source, state: refusal }, apiUp: false };
    }
    if (!found.stateDir) {
      note("no rootlesskit state dir found");
      return { ...base, apiUp: false };
    }
    const dir = found.stateDir.path;
    const options = { timeoutMs: rpcTimeoutMs, signal, ownerUid: target.uid };
    const [infoAnswer, portsAnswer, childPid, locksText, netns] = await Promise.all([
      cycleInfo(cycle, roots, dir, options),
      // About 110 bytes a forward: 1 MiB holds some 9,000 of them.
      queryApi(roots, dir, "/v1/ports", parsePorts, { ...options, maxBytes: 1024 * 1024 }),
      checkPidFile(
        roots,
        `${dir}/child_pid`,
        target.uid,
        rootlesskitPrograms,
        found.child,
        walkMemo(cycle),
      ),
      readKernelText(procPath(roots, "locks")),
      statUserPath(rootPath(roots, `${dir}/netns`), target.uid, "file", walkMemo(cycle)),
    ]);
    const netnsFile = netns.ok ? true : netns.state === "missing" ? false : undefined;
    const info = infoAnswer.ok ? infoAnswer.value : undefined;
    const ports = portsAnswer.ok ? portsAnswer.value : undefined;
    const apiError = infoAnswer.ok ? undefined : infoAnswer.error;
    if (apiError) note(`rootlesskit API: ${apiError}`);

    const locks = locksText.ok ? parseLocks(locksText.text) : undefined;
    const alive = async (pid: number) => (await statKernelPath(procPath(roots, String(pid)))).ok;
    const held = await lockHolder(rootPath(roots, `${dir}/lock`), target.uid, locks, alive);
    const childDead = ["dead", "foreign_owner", "unexpected_program", "garbage"].includes(
      childPid.state,
    );
    const stale = childDead || held === false;
    const staleReason = childDead
      ? `child_pid: ${childPid.detail}`
      : held === false
        ? `${dir}/lock is held by no live process`
        : undefined;
    return {
      ...base,
      apiUp: info !== undefined,
      ...(netnsFile !== undefined && { netnsFile }),
      ...(apiError && { apiError }),
      ...(info && { info }),
      ...(ports && { ports }),
      // A child_pid that could not be read (or was refused unread) is no evidence either way.
      ...(!["missing", "unreadable", "unsafe"].includes(childPid.state) || held !== undefined
        ? { stateDirStale: stale }
        : {}),
      ...(staleReason && { staleReason }),
    };
  },
};
