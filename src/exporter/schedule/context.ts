import type { BaseContext, HostContext, Target, UserContext } from "../../collectors/collector.js";
import type { TargetState } from "../../collectors/state.js";

/** What every run's context holds, host or user: BaseContext but the signal, made on first ask. */
export interface RunParts extends Omit<BaseContext, "signal"> {
  readonly makeSignal: () => AbortSignal;
}

/**
 * A run's context: a class, so the 9,000 user contexts made a cycle at 1,000 users share one
 * shape and their `signal` getter lives on the prototype (an object literal with a getter took
 * the slow path: a tenth of a reused run). Fields are copied, not read through `parts`.
 */
abstract class RunContext implements BaseContext {
  readonly roots: BaseContext["roots"];
  readonly note: BaseContext["note"];
  readonly info: BaseContext["info"];
  readonly env: BaseContext["env"];
  readonly rpcTimeoutMs: number;
  readonly option: BaseContext["option"];
  readonly cycle: BaseContext["cycle"];
  readonly host: BaseContext["host"];
  private readonly makeSignal: () => AbortSignal;

  constructor(parts: RunParts) {
    this.roots = parts.roots;
    this.note = parts.note;
    this.info = parts.info;
    this.env = parts.env;
    this.rpcTimeoutMs = parts.rpcTimeoutMs;
    this.option = parts.option;
    this.cycle = parts.cycle;
    this.host = parts.host;
    this.makeSignal = parts.makeSignal;
  }

  get signal(): AbortSignal {
    return this.makeSignal();
  }
}

/** A host collector's context for one run. */
export class HostRunContext extends RunContext implements HostContext {
  constructor(
    parts: RunParts,
    readonly targets: readonly Target[],
  ) {
    super(parts);
  }
}

/** A user collector's context for one run: the hot path (nine a user a cycle). */
export class UserRunContext extends RunContext implements UserContext {
  constructor(
    parts: RunParts,
    readonly target: Target,
    readonly state: TargetState,
    readonly self: boolean,
  ) {
    super(parts);
  }
}
