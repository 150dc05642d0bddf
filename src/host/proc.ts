import { readlinkSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { listDirCapped, listKernelDir, readKernelText, readTextAsync } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath } from "./paths.js";
import type { ProcStat, ProcStatus } from "./proc-parsers.js";
import { parseCmdline, parseProcStat, parseProcStatus } from "./proc-parsers.js";

export interface ProcessInfo {
  readonly pid: number;
  readonly stat: ProcStat;
  readonly status: ProcStatus;
  readonly argv: readonly string[];
  /** The target of /proc/PID/exe, when readable (same user or root). */
  readonly exe?: string;
}

/** The target of /proc/PID/exe (no lock of the other process is taken to read it). */
function exeOf(path: string): Promise<string | undefined> {
  try {
    return Promise.resolve(readlinkSync(path));
  } catch {
    return Promise.resolve(undefined);
  }
}

/**
 * A process's arguments are set when it executes its program: they are read once per process,
 * told apart by pid, start time and exe (a later process with a reused pid starts at another
 * time; an exec changes the exe). This spares two asynchronous reads of cmdline a cycle (the
 * rootlesskit parent's and the network driver's). A process that rewrites its own argv in
 * memory (setproctitle) keeps showing the arguments it was started with. Owned by whoever
 * watches the processes (one per watched user), bounded, and dropped with its owner.
 */
export class ArgvCache {
  /** Made at the first process read: most users of a big host have none (~0.3 KB each). */
  private entries: Map<string, readonly string[]> | undefined;
  constructor(private readonly size = 16) {}

  async argvOf(
    roots: HostRoots,
    pid: number,
    startTicks: number,
    exe: string | undefined,
  ): Promise<readonly string[]> {
    const key = `${roots.procfs}\0${pid}\0${startTicks}\0${exe ?? ""}`;
    const known = this.entries?.get(key);
    if (known) return known;
    const argv = await readArgv(roots, pid);
    if (argv.length > 0) {
      const entries = (this.entries ??= new Map());
      const oldest = entries.keys().next();
      if (entries.size >= this.size && !oldest.done) entries.delete(oldest.value);
      entries.set(key, argv);
    }
    return argv;
  }
}

/**
 * The most of a process's cmdline or environ read: a user's process may carry megabytes of
 * either (execve allows a quarter of the stack limit); what discovery needs is far less.
 */
export const maxProcessStringsBytes = 256 * 1024;

async function readArgv(roots: HostRoots, pid: number): Promise<readonly string[]> {
  const cmdline = await readTextAsync(
    procPath(roots, String(pid), "cmdline"),
    maxProcessStringsBytes,
  );
  return cmdline.ok ? parseCmdline(cmdline.text) : [];
}

function argvOf(
  roots: HostRoots,
  info: { pid: number; startTicks: number; exe: string | undefined },
  cache: ArgvCache | undefined,
): Promise<readonly string[]> {
  return cache
    ? cache.argvOf(roots, info.pid, info.startTicks, info.exe)
    : readArgv(roots, info.pid);
}

/**
 * Everything about one process, or undefined when it is gone or unreadable. `argv: false` skips
 * /proc/PID/cmdline, the one read that can wait on the other process (its mmap lock) and the
 * only asynchronous one; most pid checks need the exe, not the arguments.
 */
export async function readProcess(
  roots: HostRoots,
  pid: number,
  options: { readonly argv: boolean; readonly cache?: ArgvCache } = { argv: true },
): Promise<ProcessInfo | undefined> {
  const dir = String(pid);
  const [statText, statusText, exe] = await Promise.all([
    readKernelText(procPath(roots, dir, "stat")),
    readKernelText(procPath(roots, dir, "status")),
    exeOf(procPath(roots, dir, "exe")),
  ]);
  if (!statText.ok || !statusText.ok) return undefined;
  const stat = parseProcStat(statText.text);
  const status = parseProcStatus(statusText.text);
  if (!stat || !status) return undefined;
  // A zombie has no exe and no cmdline; it is not a live daemon.
  if (stat.state === "Z" || stat.state === "X") return undefined;
  const path = exe?.replace(/ \(deleted\)$/, "");
  const argv = options.argv
    ? await argvOf(roots, { pid, startTicks: stat.startTicks, exe: path }, options.cache)
    : [];
  return { pid, stat, status, argv, ...(path !== undefined && { exe: path }) };
}

/** The program's base name: from exe when readable, else argv[0], else comm. */
export function programName(info: ProcessInfo): string {
  const path = info.exe ?? info.argv[0] ?? info.stat.comm;
  return path.slice(path.lastIndexOf("/") + 1);
}

export async function listPids(roots: HostRoots): Promise<number[]> {
  const result = await listKernelDir(procPath(roots));
  return result.ok ? result.names.filter((n) => /^\d+$/.test(n)).map(Number) : [];
}

/**
 * The most threads (and fds) of one process looked at: a user can start a process with tens of
 * thousands, and every entry costs a read. rootlesskit and the network drivers have a few dozen.
 */
export const maxProcessEntries = 512;

/**
 * The most processes looked at in one search by name or among one process's children: a user
 * can start thousands named rootlesskit, and each check is a few synchronous /proc reads.
 */
export const maxCandidates = 64;

/** The pids a search looks at: the highest (mostly the newest) `maxCandidates`. */
export const candidates = (pids: Iterable<number>): number[] =>
  [...pids].sort((a, b) => b - a).slice(0, maxCandidates);

/** Lets the event loop in between pid checks, whose /proc reads are synchronous. */
export const letLoopIn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Children of every thread of pid (a Go program forks from any of its threads), asynchronous. */
export async function childPids(roots: HostRoots, pid: number): Promise<number[] | undefined> {
  const tasks = await listDirCapped(procPath(roots, String(pid), "task"), maxProcessEntries);
  if (!tasks.ok) return undefined;
  const lists = await Promise.all(
    tasks.names.map((tid) =>
      readTextAsync(procPath(roots, String(pid), "task", tid, "children"), 4096),
    ),
  );
  if (lists.every((l) => !l.ok)) return undefined;
  const children = new Set<number>();
  for (const list of lists) {
    if (!list.ok) continue;
    for (const field of list.text.split(/\s+/))
      if (/^\d+$/.test(field)) children.add(Number(field));
  }
  return [...children];
}

/** Boot time (btime of /proc/stat), to turn start ticks into Unix time. */
export async function bootTime(roots: HostRoots): Promise<number | undefined> {
  const stat = await readKernelText(procPath(roots, "stat"));
  const match = stat.ok ? /^btime (\d+)$/m.exec(stat.text) : null;
  return match ? Number(match[1]) : undefined;
}

export interface FileLock {
  readonly pid: number;
  readonly device: string;
  readonly inode: number;
}

/** /proc/locks: "1: FLOCK ADVISORY WRITE 7765 fe:00:2154997 0 EOF". */
export function parseLocks(text: string): FileLock[] {
  const locks: FileLock[] = [];
  for (const line of text.split("\n")) {
    const match = /^\d+:\s+\S+\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+:[0-9a-f]+):(\d+)\s/.exec(line);
    if (match)
      locks.push({ pid: Number(match[1]), device: match[2] ?? "", inode: Number(match[3]) });
  }
  return locks;
}

/**
 * Where the lowest `max` fds of /proc/PID/fd point (the kernel lists them in order, and what a
 * program opens at start, rootlesskit's lock among it, has a low number). Asynchronous and
 * capped: a user's process may hold 20,000 fds, and one readlink each on the event loop stalls it.
 */
export async function openFiles(
  roots: HostRoots,
  pid: number,
  max = maxProcessEntries,
): Promise<string[]> {
  const fds = await listDirCapped(procPath(roots, String(pid), "fd"), max);
  if (!fds.ok) return [];
  const targets = await Promise.all(
    fds.names.map((fd) => readlink(procPath(roots, String(pid), "fd", fd)).catch(() => undefined)),
  );
  return targets.filter((t): t is string => t !== undefined);
}

/** SIGKILL for a process the caller has checked in /proc is its own. */
export function killProcess(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** The same process with its arguments read too. */
export async function withArgv(
  roots: HostRoots,
  info: ProcessInfo,
  cache?: ArgvCache,
): Promise<ProcessInfo> {
  if (info.argv.length > 0) return info;
  const argv = await argvOf(
    roots,
    { pid: info.pid, startTicks: info.stat.startTicks, exe: info.exe },
    cache,
  );
  return argv.length > 0 ? { ...info, argv } : info;
}
