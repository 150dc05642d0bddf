import { listKernelDir, readKernelText, statKernelPath } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath } from "./paths.js";
import { parseProcStat } from "./proc-parsers.js";

export interface ProcessEntry {
  readonly pid: number;
  /** The first 15 bytes of the program name (/proc/PID/comm, the same in stat). */
  readonly comm: string;
  /**
   * Start time in clock ticks after boot, and whether it is a zombie (stat): pid and start time
   * tell a process from a later one with the same pid (issue 19's reuse keys). Absent when only
   * comm could be read.
   */
  readonly startTicks?: number;
  readonly zombie?: boolean;
}

/**
 * One pass over /proc for a whole collection cycle: every process's owner (the owner of
 * /proc/PID), and the comm and start time of the processes whose owner is `wanted` (the watched
 * users; one read of stat, else of comm), grouped by uid. Every user's discovery reads from the same table instead of listing /proc again.
 */
export class ProcessTable {
  private constructor(private readonly byUid: ReadonlyMap<number, readonly ProcessEntry[]>) {}

  static async scan(roots: HostRoots, wanted: (uid: number) => boolean): Promise<ProcessTable> {
    const byUid = new Map<number, ProcessEntry[]>();
    const dir = await listKernelDir(procPath(roots));
    let read = 0;
    for (const name of dir.ok ? dir.names : []) {
      if (!/^\d+$/.test(name)) continue;
      // Synchronous reads, but the event loop is let in every 256 processes: a user who forks
      // tens of thousands of processes must not hold up scrapes for the whole scan.
      if (++read % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
      const owner = await statKernelPath(procPath(roots, name));
      if (!owner.ok || !wanted(owner.stats.uid)) continue;
      const entry = await readEntry(roots, name);
      if (!entry) continue; // gone meanwhile
      let list = byUid.get(owner.stats.uid);
      if (!list) byUid.set(owner.stats.uid, (list = []));
      list.push(entry);
    }
    return new ProcessTable(byUid);
  }

  /** The user's processes whose comm passes `named`, in pid order. */
  named(uid: number, named: (comm: string) => boolean): number[] {
    return (this.byUid.get(uid) ?? []).filter((p) => named(p.comm)).map((p) => p.pid);
  }

  /** The user's processes in this scan, in pid order. */
  of(uid: number): readonly ProcessEntry[] {
    return this.byUid.get(uid) ?? [];
  }

  /** How many processes the user owns (whose comm could be read) in this scan. */
  count(uid: number): number {
    return this.byUid.get(uid)?.length ?? 0;
  }

  /** The uids that own at least one process passing `named`. */
  owners(named: (comm: string) => boolean): number[] {
    const uids: number[] = [];
    for (const [uid, list] of this.byUid) if (list.some((p) => named(p.comm))) uids.push(uid);
    return uids;
  }
}

/** A process's comm and start time from its stat (a comm 15 bytes at most: stat stays short). */
async function readEntry(roots: HostRoots, name: string): Promise<ProcessEntry | undefined> {
  const stat = await readKernelText(procPath(roots, name, "stat"), 1024);
  const parsed = stat.ok ? parseProcStat(stat.text) : undefined;
  if (parsed)
    return {
      pid: Number(name),
      comm: parsed.comm,
      startTicks: parsed.startTicks,
      zombie: parsed.state === "Z" || parsed.state === "X",
    };
  const comm = await readKernelText(procPath(roots, name, "comm"), 64);
  return comm.ok ? { pid: Number(name), comm: comm.text.trim() } : undefined;
}
