import type { HostScans, RootlessProcesses } from "../host/discovery.js";
import { discoverRootless, scanTmpStateDirs } from "../host/discovery.js";
import { readKernelText } from "../host/files.js";
import type { HostRoots } from "../host/paths.js";
import { procPath, rootPath } from "../host/paths.js";
import type { MountEntry } from "../host/proc-files.js";
import { parseMountinfo } from "../host/proc-files.js";
import { ProcessTable } from "../host/process-table.js";
import type { Target } from "../host/target.js";
import type { UserStat } from "../host/user-walk.js";
import { statUserNames } from "../host/user-files.js";
import { WalkMemo } from "../host/walk-memo.js";
import type { Cycle } from "./state.js";

/*
 * What several collectors read once a cycle, memoized in the cycle: one /proc scan for all users,
 * one check of each user's runtime dir, one discovery of each user's rootless processes.
 */

/** Root's processes are read too: a rootful dockerd beside the users' (the client collector). */
export const processes = (cycle: Cycle, roots: HostRoots): Promise<ProcessTable> =>
  cycle.once("processes", () => ProcessTable.scan(roots, (uid) => uid === 0 || cycle.watched(uid)));

/**
 * The cycle's memo of root's directories verified on the way to users' files (host/walk-memo.ts):
 * every walk of a user path in the cycle passes it, so `/`, `/home`, `/run/user` are checked once.
 */
export const walkMemo = (cycle: Cycle): WalkMemo => cycle.once("walk-memo", newWalkMemo);

const newWalkMemo = (): WalkMemo => new WalkMemo();

/**
 * What the cycle knows of one watched user that several collectors ask for (their keys and
 * collections), found by the user's target object: no key string built and hashed at each of the
 * dozen asks a user makes a cycle. A name and uid of one target, so a change of home, ids or
 * runtime dir (a new target object) is asked again.
 */
export class UserMemo {
  idleKey: Promise<string | undefined> | undefined = undefined;
  processKey: Promise<string | undefined> | undefined = undefined;
  homeNames: Promise<"missing" | ReadonlySet<string> | undefined> | undefined = undefined;
  /** homeNames once it is in: answered without a promise. */
  homeLooked = false;
  homeNamesFound: "missing" | ReadonlySet<string> | undefined = undefined;
  runtimeDirNames: Promise<RuntimeDirNames> | undefined = undefined;
  discovery: Promise<RootlessProcesses> | undefined = undefined;
}

const newUserMemos = (): Map<Target, UserMemo> => new Map();

/** The cycle's memo of `target` (made on first ask). */
export function userMemo(cycle: Cycle, target: Target): UserMemo {
  const memos = cycle.once("user-memos", newUserMemos);
  let memo = memos.get(target);
  if (memo === undefined) memos.set(target, (memo = new UserMemo()));
  return memo;
}

/** The names collectors read in a runtime dir (live-inputs.ts keys them, sockets are asked). */
export const runtimeNames = ["docker.pid", "dockerd-rootless", "docker.sock", "bus"] as const;
/** The names looked at in a state dir (live-inputs.ts). */
export const stateNames = ["child_pid", "netns", "lock", "api.sock"] as const;
/** The usual state dir, in the runtime dir: looked at with it (its names too), in one walk. */
export const usualStateDir = { name: "dockerd-rootless", names: stateNames } as const;

/**
 * The user's runtime dir checked as the user's, and an lstat of `runtimeNames` in it, once a
 * cycle for every collector and key (statUserNames: one walk); `at`, when it was taken. The usual
 * state dir in it, when it is a directory of the user's, is looked at in the same walk.
 */
export function runtimeDirNames(
  cycle: Cycle,
  roots: HostRoots,
  target: Target,
): Promise<RuntimeDirNames> {
  const memo = userMemo(cycle, target);
  return (memo.runtimeDirNames ??= (async () => {
    const at = Date.now();
    const path = rootPath(roots, target.runtimeDir);
    const walk = walkMemo(cycle);
    return { at, found: await statUserNames(path, target.uid, runtimeNames, walk, usualStateDir) };
  })());
}

/** A runtime dir's look (runtimeDirNames), and when it was taken. */
export interface RuntimeDirNames {
  readonly at: number;
  readonly found: Awaited<ReturnType<typeof statUserNames>>;
}

/** The user's runtime dir, checked as the user's, once a cycle for every collector. */
export async function runtimeDir(
  cycle: Cycle,
  roots: HostRoots,
  target: Target,
): Promise<UserStat> {
  const { found } = await runtimeDirNames(cycle, roots, target);
  return found.ok ? { ok: true, stats: found.dir } : found;
}

/** The host's mount table (/proc/1/mountinfo) parsed, or why it could not be read. */
export async function readHostMounts(roots: HostRoots): Promise<readonly MountEntry[] | string> {
  const read = await readKernelText(procPath(roots, "1/mountinfo"));
  return read.ok ? parseMountinfo(read.text) : read.reason;
}

/** readHostMounts once a cycle for every collector and key that asks. */
export const hostMounts = (
  cycle: Cycle,
  roots: HostRoots,
): Promise<readonly MountEntry[] | string> =>
  cycle.once("host-mounts", () => readHostMounts(roots));

/** The users' /tmp/rootlesskitNNN state dirs, listed once a cycle. */
export const tmpStateDirs = (cycle: Cycle, roots: HostRoots): ReturnType<typeof scanTmpStateDirs> =>
  cycle.once("tmp-state-dirs", () => scanTmpStateDirs(roots));

export function hostScans(cycle: Cycle, roots: HostRoots): HostScans {
  return {
    processes: () => processes(cycle, roots),
    tmpStateDirs: () => tmpStateDirs(cycle, roots),
    runtimeDir: (target) => runtimeDir(cycle, roots, target),
    walk: walkMemo(cycle),
  };
}

/** The user's rootlesskit, dockerd and state dir, found once a cycle for every collector. */
export function discovery(ctx: {
  readonly cycle: Cycle;
  readonly roots: HostRoots;
  readonly target: Target;
}): Promise<RootlessProcesses> {
  const { cycle, roots, target } = ctx;
  const memo = userMemo(cycle, target);
  return (memo.discovery ??= discoverRootless(roots, target, hostScans(cycle, roots)));
}
