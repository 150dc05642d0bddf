import type { Logger } from "pino";
import type { Cycle, HostState } from "../../collectors/state.js";
import { TargetState } from "../../collectors/state.js";
import type { Target } from "../../host/target.js";
import type { TargetSource } from "../../targets/targets.js";
import { targetKey } from "./ledger.js";
import { describe } from "./run.js";

/** Users updated between two turns of the event loop. */
const usersPerTurn = 512;

/** One watched user and the state kept while they are watched. */
export interface Watched {
  readonly target: Target;
  readonly state: TargetState;
}

/** The users watched now, by uid and name, kept in step with the target source. */
export class Roster {
  readonly watched = new Map<string, Watched>();
  /** Why the last resolution of the targets failed, while it does. */
  resolveError: string | undefined;

  constructor(
    private readonly source: TargetSource,
    private readonly log: Logger,
    /** The uid the exporter runs as: a target with it gets the exporter's own environment. */
    private readonly selfUid: number | undefined,
  ) {}

  targets(): readonly Target[] {
    return [...this.watched.values()].map((w) => w.target);
  }

  /**
   * Resolves the targets and updates the roster; `retire` is told of each user that went.
   * False when they could not be resolved (whom we watched is still watched).
   */
  async update(cycle: Cycle, host: HostState, retire: (key: string) => void): Promise<boolean> {
    let targets: readonly Target[];
    try {
      targets = await this.source.resolve(cycle, host);
    } catch (err) {
      // Keep watching whom we watched: a passwd that cannot be read now is no reason to forget.
      this.resolveError = describe(err);
      this.log.warn({ err: this.resolveError }, "cannot resolve the users to watch");
      return false;
    }
    this.resolveError = undefined;
    const keys = new Set(targets.map(targetKey));
    for (const [key, watched] of this.watched) {
      if (keys.has(key)) continue;
      // Gone (deleted, or no longer a candidate): every series of the user goes at once.
      watched.state.stop();
      this.watched.delete(key);
      retire(key);
      this.log.info({ user: watched.target.name }, "user no longer watched");
    }
    let done = 0;
    for (const target of targets) {
      // The event loop let in: 10,000 users in one go held it for ~30 ms (bench/loop-blocks.mjs).
      if (++done % usersPerTurn === 0) await new Promise((resolve) => setImmediate(resolve));
      const key = targetKey(target);
      const known = this.watched.get(key);
      const sameIds =
        known !== undefined &&
        known.target.gid === target.gid &&
        known.target.groups.join(",") === target.groups.join(",");
      if (known && sameIds) {
        // Same user; the runtime dir may have moved with their rootlesskit, the home with
        // `usermod -d`: the collectors (and the reuse keys, which name both) read the new one.
        if (known.target.runtimeDir !== target.runtimeDir || known.target.home !== target.home)
          this.watched.set(key, { ...known, target });
        continue;
      }
      // New, or their gid or groups changed: connections made with the old ids are dropped.
      known?.state.stop();
      const self = target.uid === this.selfUid;
      const credentials = self ? undefined : target;
      this.watched.set(key, { target, state: new TargetState(credentials) });
      if (!known) this.log.info({ user: target.name, uid: target.uid }, "watching user");
    }
    return true;
  }

  /** Releases every user's state. */
  stop(): void {
    for (const watched of this.watched.values()) watched.state.stop();
    this.watched.clear();
  }
}
