import type { BaseContext, HostContext, Target, UserContext } from "../../collectors/collector.js";
import type { TargetState } from "../../collectors/state.js";

/** What every run of one collector shares, host or user: made once per collector. */
export type RunShared = Pick<BaseContext, "roots" | "env" | "rpcTimeoutMs" | "option" | "host">;

/** What is a run's own: its signal (made on first ask), its note and info sinks (run.ts's Run). */
export interface RunHandle {
  signal(): AbortSignal;
  readonly note: BaseContext["note"];
  readonly info: NonNullable<BaseContext["info"]>;
}

/**
 * A run's context: a class, so the 9,000 user contexts made a cycle at 1,000 users share one
 * shape and their getters live on the prototype (an object literal with a getter took the slow
 * path: a tenth of a reused run). Shared fields are copied, not read through `shared`; what is
 * the run's own is asked of its handle, and made there only when a collector asks.
 */
abstract class RunContext implements BaseContext {
  readonly roots: BaseContext["roots"];
  readonly env: BaseContext["env"];
  readonly rpcTimeoutMs: number;
  readonly option: BaseContext["option"];
  readonly host: BaseContext["host"];

  constructor(
    shared: RunShared,
    private readonly handle: RunHandle,
    readonly cycle: BaseContext["cycle"],
  ) {
    this.roots = shared.roots;
    this.env = shared.env;
    this.rpcTimeoutMs = shared.rpcTimeoutMs;
    this.option = shared.option;
    this.host = shared.host;
  }

  get signal(): AbortSignal {
    return this.handle.signal();
  }

  get note(): BaseContext["note"] {
    return this.handle.note;
  }

  get info(): NonNullable<BaseContext["info"]> {
    return this.handle.info;
  }
}

/** A host collector's context for one run. */
export class HostRunContext extends RunContext implements HostContext {
  constructor(
    shared: RunShared,
    handle: RunHandle,
    cycle: BaseContext["cycle"],
    readonly targets: readonly Target[],
  ) {
    super(shared, handle, cycle);
  }
}

/** A user collector's context for one run: the hot path (nine a user a cycle). */
export class UserRunContext extends RunContext implements UserContext {
  constructor(
    shared: RunShared,
    handle: RunHandle,
    cycle: BaseContext["cycle"],
    readonly target: Target,
    readonly state: TargetState,
    readonly self: boolean,
  ) {
    super(shared, handle, cycle);
  }
}
