import type { HostRoots } from "../host/paths.js";
import type { Target } from "../host/target.js";

/** The watched user, as checks and renderers see it (they import no host/ module). */
export type { Target } from "../host/target.js";
import type { Cycle, HostState, TargetState } from "./state.js";

/** What every collector gets for one run. */
export interface BaseContext {
  readonly roots: HostRoots;
  /** Aborted when the run passes its timeout; long operations should give up. */
  readonly signal: AbortSignal;
  /** Records an expected condition (a file missing, a daemon down); logged once at debug. */
  readonly note: (message: string) => void;
  /** Logs a measurement at info, every time (a probe's result and CPU cost). */
  readonly info?: (message: string, fields: Readonly<Record<string, unknown>>) => void;
  /** The exporter's environment (DBUS_SESSION_BUS_ADDRESS, DOCKER_HOST, ...). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Bound for one D-Bus call or one HTTP request over a unix socket (--collect.rpc-timeout). */
  readonly rpcTimeoutMs: number;
  /** The value of one of this collector's own flags (declared in `options`), or its default. */
  readonly option: (name: string) => string;
  /** This cycle's memo: one process scan, one discovery and one /v1/info per user. */
  readonly cycle: Cycle;
  /** What the exporter keeps about the host between cycles. */
  readonly host: HostState;
}

/** A host collector runs once per cycle: the facts are the same for every user. */
export interface HostContext extends BaseContext {
  /** Every user watched this cycle (a host fact may depend on where users keep things). */
  readonly targets: readonly Target[];
}

/** A user collector runs once per watched user per cycle. */
export interface UserContext extends BaseContext {
  readonly target: Target;
  /** What the exporter keeps about this user between cycles. */
  readonly state: TargetState;
  /** Whether the exporter runs as this user (its own environment then applies). */
  readonly self: boolean;
}

/** A flag a collector declares for itself: --collector.<collector>.<name>. */
export interface CollectorOption {
  readonly name: string;
  /** The flag's full name when it is not collector.<collector>.<name> (e.g. "probe.bytes"). */
  readonly flag?: string;
  readonly help: string;
  readonly defaultValue: string;
  /** An error message for a bad value, or undefined when it is fine. */
  readonly validate?: (value: string) => string | undefined;
}

interface BaseCollector {
  readonly name: string;
  readonly description: string;
  readonly defaultEnabled: boolean;
  /** Seconds between runs unless --collector.<name>.interval says otherwise. */
  readonly defaultIntervalSeconds: number;
  readonly options?: readonly CollectorOption[];
  /** A run timeout of its own, when --collect.timeout is too short for what the collector does. */
  readonly runTimeoutMs?: (option: (name: string) => string) => number;
}

export interface HostCollector<F> extends BaseCollector {
  readonly scope: "host";
  readonly collect: (ctx: HostContext) => Promise<F>;
}

export interface UserCollector<F> extends BaseCollector {
  readonly scope: "user";
  readonly collect: (ctx: UserContext) => Promise<F>;
  /**
   * How to tell cheaply that this user's inputs did not change since the last run: a key built
   * only from what decides the facts (the cycle's process scan, answers "missing" of the user's
   * paths walked safely), or undefined when it cannot say ("changed": a full run). When the key
   * equals the last successful full run's, the scheduler serves that run's facts object again
   * instead of collecting (inputs.ts, docs/architecture.md "Reuse"), or, with `refresh`, has
   * only the live part re-read. Counters and anything a live daemon answered are never served
   * again: they belong in `refresh`, or the key is undefined. `again`: the key
   * taken after a full run, to see its inputs did not change while it ran; it must look at the
   * user's files afresh, not answer from what this cycle's memo learnt before the run.
   */
  readonly inputs?: (ctx: UserContext, again: boolean) => Promise<string | undefined>;
  /**
   * The live part of a run whose inputs did not change: given the facts of the last run (full or
   * refreshed), re-reads only what is live (counters, API and bus answers) and returns the facts,
   * the rest taken from `last`. It must return a new object whenever a live figure changed (the
   * ledger keeps `last` when the result is equal to it, so the renderer sees no change then).
   * Without it, `inputs` must cover every fact and the last facts are served as they are.
   */
  refresh?(ctx: UserContext, last: F): Promise<F>;
}

/** The declarative face of a collector: its name, scope, defaults and its work. */
export type Collector<F> = HostCollector<F> | UserCollector<F>;
