import type { ProcessInfo } from "../host/proc.js";

/**
 * Restarts of one daemon seen across cycles, told apart by pid and start time (a reused pid
 * starts at another time): a count that never goes down while the user is watched. The first
 * process seen is no restart; a daemon that died and came back between two cycles is one,
 * however short its gap (systemd's Restart=always brings dockerd back within 2 s).
 */
export class RestartCounter {
  private identity: string | undefined;
  private restarts = 0;

  /** The daemon as this cycle found it (undefined: not running); the restarts seen so far. */
  see(process: ProcessInfo | undefined): number {
    if (process === undefined) return this.restarts;
    const identity = `${process.pid}:${process.stat.startTicks}`;
    if (this.identity !== undefined && identity !== this.identity) this.restarts++;
    this.identity = identity;
    return this.restarts;
  }
}
