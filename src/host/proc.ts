import { closeSync, constants, openSync, readlinkSync, readSync } from "node:fs";
import { readlink } from "node:fs/promises";
import type { ReadResult } from "./files.js";
import { failureOf, listDirCapped, listKernelDir, readKernelText, readTextAsync } from "./files.js";
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

/**
 * The bytes of a namespace's net/dev read at once: a usual one (its header, `lo`, a tap or an
 * `eth0` and a bridge or two) is 450-900 bytes, and 4,000 bytes is some 25 interfaces. Below 4 KiB,
 * so Buffer.allocUnsafe takes it from Node's shared pool: no buffer of its own a read.
 */
export const netDevAtOnce = 4000;

/**
 * A process's /proc/PID/net/dev (its network namespace's counters), at most `limit` bytes. The
 * first `netDevAtOnce` bytes are read at once: procfs makes the file from memory under RCU (every
 * device's counters, no lock a user can hold, nothing that sleeps; the same as the process table's
 * reads of /proc/PID/stat), which costs a few microseconds where each thread-pool round trip of an
 * open, two reads and a close costs far more. A file longer than that (a user who made dozens of
 * interfaces, up to thousands) is read again whole through the thread pool, bounded as before:
 * at most `netDevAtOnce` bytes of it are ever made on the event loop.
 */
export function readNetDev(roots: HostRoots, pid: number, limit: number): Promise<ReadResult> {
  const path = procPath(roots, String(pid), "net/dev");
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const buffer = Buffer.allocUnsafe(netDevAtOnce + 1);
    let used = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, used, buffer.length - used, null);
      if (bytesRead === 0)
        return Promise.resolve({ ok: true, text: buffer.toString("utf8", 0, used) });
      used += bytesRead;
      if (used > netDevAtOnce || used > limit) break;
    }
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return Promise.resolve({ ok: false, reason: failureOf(err), detail });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return readTextAsync(path, limit);
}

/**
 * Everything about one process, or undefined when it is gone or unreadable. `argv: false` skips
 * /proc/PID/cmdline, the one read that can wait on the other process (its mmap lock) and the
 * only asynchronous one; most pid checks need the exe, not the arguments.
 */
export async function readProcess(
  roots: HostRoots,
  pid: number,
  options: { readonly argv: boolean } = { argv: true },
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
  // Read every time, never kept across cycles: execve keeps the pid and the start time, and a
  // process may exec its own program again with other arguments (`exec -a`).
  const argv = options.argv ? await readArgv(roots, pid) : [];
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
export async function withArgv(roots: HostRoots, info: ProcessInfo): Promise<ProcessInfo> {
  if (info.argv.length > 0) return info;
  const argv = await readArgv(roots, info.pid);
  return argv.length > 0 ? { ...info, argv } : info;
}
