import { readKernelText, statKernelPath } from "../../host/files.js";
import { procPath, rootPath } from "../../host/paths.js";
import type { FileLock } from "../../host/proc.js";
import { bootTime, parseLocks } from "../../host/proc.js";
import { clockTicksPerSecond, rootlesskitBoolFlag } from "../../host/proc-parsers.js";
import type { EntryStats } from "../../host/user-files.js";
import { statUserPath } from "../../host/user-files.js";
import type { Collector, UserContext } from "../collector.js";
import { idleKey } from "../inputs.js";
import type { StaticPart } from "../live-inputs.js";
import {
  dirKey,
  entryKey,
  entryNow,
  liveWith,
  runtimeDirKey,
  runtimeNames,
  stateNames,
} from "../live-inputs.js";
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
import { cycleInfo, missingSocketAnswer, parsePorts, queryApi } from "./rootlesskit-api.js";

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
  known: EntryStats | "missing" | undefined,
) {
  // This cycle's look at the state dir, else a walk to the lock.
  const lock =
    known === "missing"
      ? { ok: false as const }
      : known
        ? { ok: true as const, stats: known }
        : await statUserPath(path, uid, "file");
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

/** What a full run found that stays while the same processes run and the same files are there. */
interface RootlesskitStatic {
  /** Facts without the state dir's live part; complete when there is no state dir to ask. */
  readonly base: RootlesskitFacts;
  readonly dir?: string;
  readonly childPid?: { readonly state: string; readonly detail: string };
  readonly netnsFile?: boolean;
}

/** The static part of the last full run, for the refreshes after it (live-inputs.ts). */
const lastStatic = kept("rootlesskit.static", (): StaticPart<RootlesskitStatic> => ({
  part: undefined,
}));

/** /proc/locks, read and parsed once a cycle for every user (a live table: never reused). */
const cycleLocks = (ctx: UserContext): Promise<readonly FileLock[] | undefined> =>
  ctx.cycle.once("proc-locks", async () => {
    const text = await readKernelText(procPath(ctx.roots, "locks"));
    return text.ok ? parseLocks(text.text) : undefined;
  });

/** Discovery, the state dir's child_pid and netns: what does not change while the key holds. */
async function staticPart(ctx: UserContext): Promise<RootlesskitStatic> {
  const { roots, target, cycle, host, note } = ctx;
  const found = await discovery(ctx);
  if (found.pidFile.state !== "ok") note(`docker.pid: ${found.pidFile.detail}`);
  const parent = found.parent;
  const btime = parent ? await bootTimeOnce(host, roots) : undefined;
  // Every kept base is made from this literal with its keys added after it (never `{ ...base }`:
  // V8 gave each spread copy a hidden class of its own, 10,000 at 10,000 users, docs/performance.md
  // "heap2"); the same keys in the same order as before, so the facts and their JSON are unchanged.
  const base: { -readonly [K in keyof RootlesskitFacts]?: RootlesskitFacts[K] } = {
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
    base.stateDirRefused = { source, state: refusal };
    base.apiUp = false;
    return { base: base as RootlesskitFacts };
  }
  if (!found.stateDir) {
    note("no rootlesskit state dir found");
    base.apiUp = false;
    return { base: base as RootlesskitFacts };
  }
  const dir = found.stateDir.path;
  const [childPid, netns] = await Promise.all([
    checkPidFile(
      roots,
      `${dir}/child_pid`,
      target.uid,
      rootlesskitPrograms,
      found.child,
      walkMemo(cycle),
    ),
    statUserPath(rootPath(roots, `${dir}/netns`), target.uid, "file", walkMemo(cycle)),
  ]);
  const netnsFile = netns.ok ? true : netns.state === "missing" ? false : undefined;
  base.apiUp = false;
  return {
    base: base as RootlesskitFacts,
    dir,
    childPid: { state: childPid.state, detail: childPid.detail },
    ...(netnsFile !== undefined && { netnsFile }),
  };
}

/** The API's answers and the state dir's lock: read every run. */
async function livePart(ctx: UserContext, part: RootlesskitStatic): Promise<RootlesskitFacts> {
  const { roots, target, cycle, note, rpcTimeoutMs } = ctx;
  const { base, dir, childPid, netnsFile } = part;
  if (dir === undefined || childPid === undefined) return base;
  // The signal made only for a request (a spread of options makes it).
  const options = {
    timeoutMs: rpcTimeoutMs,
    get signal() {
      return ctx.signal;
    },
    ownerUid: target.uid,
  };
  // No api.sock in this cycle's look at the state dir: the answer a request would get, unasked.
  const missing =
    !ctx.self && (await entryNow(ctx, dir, stateNames, "api.sock", "socket")) === "missing";
  const [infoAnswer, portsAnswer, locks] = await Promise.all([
    cycleInfo(cycle, roots, dir, options, missing),
    // About 110 bytes a forward: 1 MiB holds some 9,000 of them.
    missing
      ? missingSocketAnswer<PortForward[]>(roots, dir)
      : queryApi(roots, dir, "/v1/ports", parsePorts, { ...options, maxBytes: 1024 * 1024 }),
    cycleLocks(ctx),
  ]);
  const info = infoAnswer.ok ? infoAnswer.value : undefined;
  const ports = portsAnswer.ok ? portsAnswer.value : undefined;
  const apiError = infoAnswer.ok ? undefined : infoAnswer.error;
  if (apiError) note(`rootlesskit API: ${apiError}`);

  const alive = async (pid: number) => (await statKernelPath(procPath(roots, String(pid)))).ok;
  const lock = await entryNow(ctx, dir, stateNames, "lock", "file");
  const held = await lockHolder(rootPath(roots, `${dir}/lock`), target.uid, locks, alive, lock);
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
}

/** A full run: the static part found again (and kept for the refreshes), then the live part. */
async function collect(ctx: UserContext): Promise<RootlesskitFacts> {
  const part = await staticPart(ctx);
  ctx.state.own(lastStatic).part = part;
  return livePart(ctx, part);
}

export const rootlesskitCollector: Collector<RootlesskitFacts> = {
  name: "rootlesskit",
  description: "the rootlesskit process, its state dir and its REST API (api.sock)",
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  // Nothing running: the discovery finds nothing, and says so. Running: the same processes (pid
  // and start time), runtime dir, docker.pid and state dir files keep what discovery found; the
  // API and the lock are re-read by `refresh`.
  inputs: async (ctx, again) => {
    const idle = await idleKey(ctx);
    if (idle !== undefined) return idle;
    const part = ctx.state.own(lastStatic).part;
    // A refused state dir (a symlink, another owner's) names no directory to key: a full run
    // every cycle until the user makes it good.
    if (part?.base.stateDirRefused) return undefined;
    const dir = part?.dir;
    const { runtimeDir } = ctx.target;
    return liveWith(
      ctx,
      () => runtimeDirKey(ctx, again),
      () => entryKey(ctx, runtimeDir, runtimeNames, "docker.pid", "file", again),
      () => entryKey(ctx, runtimeDir, runtimeNames, "dockerd-rootless", "directory", again),
      async () => (part === undefined ? undefined : JSON.stringify(part.base.stateDir ?? null)),
      ...(dir === undefined
        ? []
        : [
            () => dirKey(ctx, dir, stateNames, again),
            () => entryKey(ctx, dir, stateNames, "child_pid", "file", again),
            () => entryKey(ctx, dir, stateNames, "netns", "file", again, false),
            () => entryKey(ctx, dir, stateNames, "lock", "file", again, false),
          ]),
    );
  },
  collect,
  refresh(ctx, last) {
    const part = ctx.state.own(lastStatic).part;
    if (!part) return collect(ctx);
    // No state dir to ask: nothing live (an idle user, or a state dir not found or refused).
    return part.dir === undefined ? Promise.resolve(last) : livePart(ctx, part);
  },
};
