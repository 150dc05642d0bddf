import type { Dirent } from "node:fs";
import { basename, dirname } from "node:path";
import { listDirCapped, lstatPath, readTextAsync } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath, rootPath } from "./paths.js";
import type { ProcessInfo } from "./proc.js";
import { flagValue } from "./proc-parsers.js";
import {
  candidates,
  childPids,
  letLoopIn,
  maxProcessStringsBytes,
  openFiles,
  withArgv,
} from "./proc.js";
import type { ProcessTable } from "./process-table.js";
import type { Target } from "./target.js";
import type { PidCheck } from "./pid-files.js";
import { checkPid, checkPidFile } from "./pid-files.js";
import type { UserFileRefusal } from "./user-walk.js";
import { statUserPath } from "./user-files.js";
import type { WalkMemo } from "./walk-memo.js";

export const rootlesskitPrograms = ["rootlesskit", "docker-rootlesskit"];
export const dockerdPrograms = ["dockerd"];

export type StateDirSource = "flag" | "open_fd" | "runtime_dir" | "tmp_scan";

export interface RootlessProcesses {
  readonly pidFile: PidCheck;
  readonly dockerd?: ProcessInfo;
  /** The rootlesskit child (dockerd's parent), in the new namespaces. */
  readonly child?: ProcessInfo;
  /** The rootlesskit parent, in the user's own namespaces; it holds the state dir. */
  readonly parent?: ProcessInfo;
  readonly stateDir?: { readonly path: string; readonly source: StateDirSource };
  /**
   * A state dir rootlesskit named (its --state-dir, the lock it holds) that is not a directory of
   * the user's own: nothing in it is read or connected to, and `detail` names no content.
   */
  readonly stateDirRefused?: {
    readonly source: StateDirSource;
    readonly state: UserFileRefusal;
    readonly detail: string;
  };
}

type StateDirFinding = Pick<RootlessProcesses, "stateDir" | "stateDirRefused">;

async function parentIfProgram(
  roots: HostRoots,
  info: ProcessInfo,
  uid: number,
  programs: readonly string[],
): Promise<ProcessInfo | undefined> {
  if (info.stat.ppid <= 1) return undefined;
  const parent = await checkPid(roots, info.stat.ppid, uid, programs);
  return parent.process;
}

async function environValue(
  roots: HostRoots,
  pid: number,
  name: string,
): Promise<string | undefined> {
  const text = await readTextAsync(procPath(roots, String(pid), "environ"), maxProcessStringsBytes);
  if (!text.ok) return undefined;
  const entry = text.text.split("\0").find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

/** comm is cut to 15 bytes: "docker-rootlesskit" shows as "docker-rootless". */
export const isRootlesskitComm = (comm: string): boolean =>
  rootlesskitPrograms.some((program) => program.slice(0, 15) === comm);

/** A rootlesskit parent of the user when dockerd is not there to lead to it. */
async function findRootlesskitParent(
  roots: HostRoots,
  target: Target,
  processes: ProcessTable,
): Promise<ProcessInfo | undefined> {
  const found: ProcessInfo[] = [];
  for (const pid of candidates(processes.named(target.uid, isRootlesskitComm))) {
    await letLoopIn();
    const check = await checkPid(roots, pid, target.uid, rootlesskitPrograms);
    if (!check.process) continue;
    const parentIsKit = await parentIfProgram(
      roots,
      check.process,
      target.uid,
      rootlesskitPrograms,
    );
    if (!parentIsKit) found.push(check.process);
  }
  if (found.length <= 1) return found[0];
  // Several rootlesskits (a user may run more than one): the one started for this runtime dir.
  for (const candidate of found) {
    if ((await environValue(roots, candidate.pid, "XDG_RUNTIME_DIR")) === target.runtimeDir)
      return candidate;
  }
  return found[0];
}

/**
 * The state dir whose lock a rootlesskit parent holds: listed on every discovery, never kept across
 * cycles by pid and start time (execve keeps both, and a parent that execs rootlesskit again takes
 * its lock anew). The listing is bounded (`openFiles`: maxProcessEntries fds).
 */
async function heldStateDir(roots: HostRoots, parent: ProcessInfo): Promise<string | undefined> {
  const lock = (await openFiles(roots, parent.pid)).find(
    (link) => basename(link) === "lock" && link.startsWith("/"),
  );
  return lock === undefined ? undefined : dirname(lock);
}

/**
 * A directory the user's rootlesskit names is the user's to choose (`--state-dir=/root/d`): used
 * only when it is a directory of the user's own, reached without a symlink (host/user-files).
 */
async function userStateDir(
  roots: HostRoots,
  target: Target,
  path: string,
  source: StateDirSource,
  memo: WalkMemo | undefined,
): Promise<StateDirFinding> {
  if (!path.startsWith("/") || path.includes("\0"))
    return {
      stateDirRefused: { source, state: "io_error", detail: "not an absolute path" },
    };
  const info = await statUserPath(rootPath(roots, path), target.uid, "directory", memo);
  if (info.ok) return { stateDir: { path, source } };
  return { stateDirRefused: { source, state: info.state, detail: info.detail } };
}

/** --state-dir, else the directory the parent holds open (its lock), else the usual places. */
async function findStateDir(
  roots: HostRoots,
  target: Target,
  parent: ProcessInfo | undefined,
  scans: HostScans,
): Promise<StateDirFinding> {
  if (parent) {
    const flag = flagValue(parent.argv, "--state-dir");
    if (flag) return userStateDir(roots, target, flag, "flag", scans.walk);
    const dir = await heldStateDir(roots, parent);
    if (dir !== undefined) return userStateDir(roots, target, dir, "open_fd", scans.walk);
  }
  const usual = `${target.runtimeDir}/dockerd-rootless`;
  const runtimeDir = await scans.runtimeDir(target);
  const stat = (path: string) => statUserPath(path, target.uid, "directory", scans.walk);
  if (runtimeDir.ok && (await stat(rootPath(roots, usual))).ok)
    return { stateDir: { path: usual, source: "runtime_dir" } };
  if (parent) return {};
  // Debian's docker.io passes no --state-dir: rootlesskit then lives in /tmp/rootlesskitNNN. With
  // the parent gone, the newest such directory of the user is what a crash left behind.
  const newest = (await scans.tmpStateDirs()).get(target.uid);
  if (newest === undefined) return {};
  // Found by the host's scan (lstat: a symlink is no directory); checked again as the user's.
  const info = await statUserPath(rootPath(roots, newest), target.uid, "directory", scans.walk);
  return info.ok ? { stateDir: { path: newest, source: "tmp_scan" } } : {};
}

/** The scans of the whole host that every user's discovery reads in a cycle (the cycle's memo). */
export interface HostScans {
  readonly processes: () => Promise<ProcessTable>;
  /** The newest /tmp/rootlesskitNNN directory of each uid. */
  readonly tmpStateDirs: () => Promise<ReadonlyMap<number, string>>;
  /** The user's runtime dir, checked as theirs once a cycle; `state` says why it is not ok. */
  readonly runtimeDir: (
    target: Target,
  ) => Promise<{ readonly ok: boolean; readonly state?: string }>;
  /** The cycle's memo of root's directories verified on the way to users' files. */
  readonly walk?: WalkMemo;
}

/** The most names of /tmp looked at per cycle (a user can make 300,000 of them). */
const maxTmpEntries = 65_536;
/** The most rootlesskitNNN directories lstat'ed per cycle, highest numbers first. */
const maxTmpStateDirs = 1024;

/** A directory by its entry's type, or an entry of unknown type (a filesystem without d_type). */
const maybeDirectory = (entry: Dirent): boolean =>
  /^rootlesskit\d+$/.test(entry.name) &&
  (entry.isDirectory() ||
    ![entry.isFile(), entry.isSymbolicLink(), entry.isFIFO(), entry.isSocket()].some(Boolean));

/** One listing of /tmp: the newest rootlesskitNNN directory of each owner. */
export async function scanTmpStateDirs(roots: HostRoots): Promise<Map<number, string>> {
  const newest = new Map<number, { path: string; mtime: number }>();
  // Everyone writes in /tmp: read a batch at a time off the event loop, and not forever; the
  // entries' types spare an lstat of every file named like a state dir.
  const tmp = await listDirCapped(rootPath(roots, "/tmp"), maxTmpEntries, maybeDirectory);
  const names = tmp.ok
    ? tmp.names
        .sort(
          (a, b) => Number(b.slice("rootlesskit".length)) - Number(a.slice("rootlesskit".length)),
        )
        .slice(0, maxTmpStateDirs)
    : [];
  for (const name of names) {
    // lstat, not stat: a user's symlink named rootlesskitNNN must not lead elsewhere.
    const info = await lstatPath(rootPath(roots, `/tmp/${name}`));
    if (!info.ok || !info.stats.isDirectory()) continue;
    const known = newest.get(info.stats.uid);
    if (!known || info.stats.mtimeMs > known.mtime)
      newest.set(info.stats.uid, { path: `/tmp/${name}`, mtime: info.stats.mtimeMs });
  }
  return new Map([...newest].map(([uid, { path }]) => [uid, path]));
}

/**
 * docker.pid -> dockerd -> rootlesskit child -> rootlesskit parent -> state dir (ARCHITECTURE.md),
 * and, when dockerd is down, rootlesskit found among the user's processes of this cycle's table.
 * Collectors share one discovery per user and cycle through the cycle's memo, not by calling this.
 */
export async function discoverRootless(
  roots: HostRoots,
  target: Target,
  scans: HostScans,
): Promise<RootlessProcesses> {
  // No runtime dir (the user is not logged in and does not linger): nothing in it to read.
  const runtimeDirMissing = (await scans.runtimeDir(target)).state === "missing";
  const pidFile: PidCheck = runtimeDirMissing
    ? { state: "missing", detail: `${target.runtimeDir} does not exist` }
    : await checkPidFile(
        roots,
        `${target.runtimeDir}/docker.pid`,
        target.uid,
        dockerdPrograms,
        undefined,
        scans.walk,
      );
  const dockerd = pidFile.process;
  let child: ProcessInfo | undefined;
  let parent: ProcessInfo | undefined;
  if (dockerd) {
    child = await parentIfProgram(roots, dockerd, target.uid, rootlesskitPrograms);
    parent = child && (await parentIfProgram(roots, child, target.uid, rootlesskitPrograms));
  }
  parent ??= await findRootlesskitParent(roots, target, await scans.processes());
  if (parent && !child) {
    const kids = candidates((await childPids(roots, parent.pid)) ?? []);
    for (const pid of kids) {
      await letLoopIn();
      const check = await checkPid(roots, pid, target.uid, rootlesskitPrograms);
      if (check.process) child = check.process;
    }
  }
  // The parent's arguments name its state dir and drivers; the other processes need no argv.
  if (parent) parent = await withArgv(roots, parent);
  const stateDir = await findStateDir(roots, target, parent, scans);
  return {
    pidFile,
    ...(dockerd && { dockerd }),
    ...(child && { child }),
    ...(parent && { parent }),
    ...stateDir,
  };
}
