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
  /** Logs a measurement at info, every time (a probe's result and CPU cost). */
  readonly info?: (message: string, fields: Readonly<Record<string, unknown>>) => void;
  /** The exporter's environment (DBUS_SESSION_BUS_ADDRESS, DOCKER_HOST, ...). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Bound for one D-Bus call or one HTTP request over a unix socket (--collect.rpc-timeout). */
  readonly rpcTimeoutMs: number;
  /** The value of one of this collector's own flags (declared in `options`), or its default. */
  readonly option: (name: string) => string;
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

/** The declarative face of a collector: its name, defaults and its work. */
export interface Collector<F> {
  readonly name: string;
  readonly description: string;
  readonly defaultEnabled: boolean;
  /** Seconds between runs unless --collector.<name>.interval says otherwise. */
  readonly defaultIntervalSeconds: number;
  readonly collect: (ctx: CollectorContext) => Promise<F>;
  readonly options?: readonly CollectorOption[];
  /** A run timeout of its own, when --collect.timeout is too short for what the collector does. */
  readonly runTimeoutMs?: (option: (name: string) => string) => number;
  /** Releases what runs left open (D-Bus connections); called when the exporter stops. */
  readonly stop?: () => void;
}
