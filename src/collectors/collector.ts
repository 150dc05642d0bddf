import type { HostRoots } from "../host/paths.js";
import type { Target } from "../host/target.js";

/** What a collector gets for one run. */
export interface CollectorContext {
  readonly roots: HostRoots;
  readonly target: Target;
  /** Aborted when the run passes its timeout; long operations should give up. */
  readonly signal: AbortSignal;
  /** Records an expected condition (a file missing, a daemon down); logged once at debug. */
  readonly note: (message: string) => void;
}

/** The declarative face of a collector: its name, defaults and its work. */
export interface Collector<F> {
  readonly name: string;
  readonly description: string;
  readonly defaultEnabled: boolean;
  /** Seconds between runs unless --collector.<name>.interval says otherwise. */
  readonly defaultIntervalSeconds: number;
  readonly collect: (ctx: CollectorContext) => Promise<F>;
}
