import { listKernelDir, readKernelText, statKernelPath } from "./files.js";
import type { HostRoots } from "./paths.js";
import { procPath } from "./paths.js";

export interface ProcessEntry {
  readonly pid: number;
  /** The first 15 bytes of the program name (/proc/PID/comm). */
  readonly comm: string;
}

/**
 * One pass over /proc for a whole collection cycle: every process's owner (the owner of
 * /proc/PID), and the comm of the processes whose owner is `wanted` (the watched users), grouped
 * by uid. Every user's discovery reads from the same table instead of listing /proc again.
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
      const comm = await readKernelText(procPath(roots, name, "comm"), 64);
      if (!comm.ok) continue; // gone meanwhile
      let list = byUid.get(owner.stats.uid);
      if (!list) byUid.set(owner.stats.uid, (list = []));
      list.push({ pid: Number(name), comm: comm.text.trim() });
    }
    return new ProcessTable(byUid);
  }

  /** The user's processes whose comm passes `named`, in pid order. */
  named(uid: number, named: (comm: string) => boolean): number[] {
    return (this.byUid.get(uid) ?? []).filter((p) => named(p.comm)).map((p) => p.pid);
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
