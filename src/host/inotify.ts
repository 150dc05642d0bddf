import type { Dir } from "node:fs";
import { opendirSync, readlinkSync } from "node:fs";
import type { ReadFailure } from "./files.js";
import { failureOf } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath } from "./paths.js";
import { letLoopIn } from "./proc.js";

/** What one count of a user's inotify instances looked at, and whether it saw everything. */
export interface InotifyCount {
  /** Open file descriptors that are inotify instances (readlink "anon_inode:inotify"). */
  readonly instances: number;
  readonly processes: number;
  readonly descriptors: number;
  /**
   * Processes whose descriptors may not be listed: not dumpable, such as systemd's (sd-pam), which
   * changed its credentials without an exec, when the exporter runs as the user. Left out.
   */
  readonly unreadable: number;
  /** False when a bound stopped the count: `instances` is then a lower bound. */
  readonly complete: boolean;
}

/**
 * The bounds of one user's count: a user can hold a million descriptors in a few processes.
 * Measured on the 2-core build machine: ~5 µs of CPU a descriptor (20,518 in 96 processes:
 * 100 ms), so the whole bound costs about a third of a second.
 */
export interface InotifyBounds {
  readonly maxProcesses: number;
  readonly maxDescriptorsPerProcess: number;
  readonly maxDescriptors: number;
}

export const inotifyBounds: InotifyBounds = {
  maxProcesses: 4096,
  maxDescriptorsPerProcess: 16_384,
  maxDescriptors: 65_536,
};

/** readlinks between two turns of the event loop: /proc links are made from memory, ~5 µs each. */
const batch = 256;

/**
 * The first `max` names of a process's fd directory, read at once (procfs, made from memory), a
 * batch at a time with the event loop let in every `batch` names: no round trip through the
 * thread pool per process (an opendir, reads and a close for each of the ~400 processes of 100
 * live users, every cycle).
 */
async function listFds(
  path: string,
  max: number,
): Promise<
  | { readonly ok: false; readonly reason: ReadFailure }
  | { readonly ok: true; readonly names: string[]; readonly complete: boolean }
> {
  let dir: Dir;
  try {
    dir = opendirSync(path, { bufferSize: Math.max(1, Math.min(max, 128)) });
  } catch (err) {
    return { ok: false, reason: failureOf(err) };
  }
  const names: string[] = [];
  try {
    for (;;) {
      const entry = dir.readSync();
      if (entry === null) return { ok: true, names, complete: true };
      if (names.length === max) return { ok: true, names, complete: false };
      names.push(entry.name);
      if (names.length % batch === 0) await letLoopIn();
    }
  } catch (err) {
    return { ok: false, reason: failureOf(err) };
  } finally {
    dir.closeSync();
  }
}

/**
 * The inotify instances the processes `pids` hold, counted as descriptors: fs.inotify's
 * max_user_instances charges every instance to the user who made it, and an instance lives while
 * a descriptor refers to it. Two descriptors of one instance (dup, fork) count twice: the kernel
 * shows every inotify instance as the same anonymous inode, so nothing tells them apart.
 * Directories are listed and links read at once (procfs, from memory: no round trip through the
 * thread pool per process, ~400 a cycle at 100 live users), capped, a batch at a time with the
 * event loop let in between, and the count stops when `signal` aborts.
 */
export async function countInotify(
  roots: HostRoots,
  pids: readonly number[],
  signal: AbortSignal,
  bounds: InotifyBounds = inotifyBounds,
): Promise<InotifyCount> {
  let instances = 0;
  let descriptors = 0;
  let processes = 0;
  let unreadable = 0;
  let complete = pids.length <= bounds.maxProcesses;
  let sinceYield = 0;
  for (const pid of pids.slice(0, bounds.maxProcesses)) {
    if (signal.aborted || descriptors >= bounds.maxDescriptors) {
      complete = false;
      break;
    }
    const room = Math.min(bounds.maxDescriptorsPerProcess, bounds.maxDescriptors - descriptors);
    const fds = await listFds(procPath(roots, String(pid), "fd"), room);
    if (!fds.ok) {
      if (fds.reason === "permission_denied") unreadable++;
      else if (fds.reason !== "missing") complete = false; // else gone meanwhile
      continue;
    }
    processes++;
    if (!fds.complete) complete = false;
    for (const fd of fds.names) {
      descriptors++;
      if (++sinceYield === batch) {
        sinceYield = 0;
        await letLoopIn();
      }
      try {
        if (readlinkSync(procPath(roots, String(pid), "fd", fd)) === "anon_inode:inotify")
          instances++;
      } catch {
        // closed meanwhile
      }
    }
  }
  return { instances, processes, descriptors, unreadable, complete };
}
