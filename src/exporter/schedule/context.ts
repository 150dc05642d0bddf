import type { UserContext } from "../../collectors/collector.js";
import type { Cycle, HostState, TargetState } from "../../collectors/state.js";
import type { HostRoots } from "../../host/paths.js";
import type { Target } from "../../host/target.js";

/**
 * A user collector's context for one run: a class, so the 9,000 made a cycle at 1,000 users
 * share one shape and their `signal` getter lives on the prototype (an object literal with a
 * getter took the slow path: a tenth of a reused run). The signal is made on first ask.
 */
export class UserRunContext implements UserContext {
  constructor(
    readonly roots: HostRoots,
    readonly note: (message: string) => void,
    readonly info: (message: string, fields: Readonly<Record<string, unknown>>) => void,
    readonly env: Readonly<Record<string, string | undefined>>,
    readonly rpcTimeoutMs: number,
    readonly option: (name: string) => string,
    readonly cycle: Cycle,
    readonly host: HostState,
    readonly target: Target,
    readonly state: TargetState,
    readonly self: boolean,
    private readonly makeSignal: () => AbortSignal,
  ) {}

  get signal(): AbortSignal {
    return this.makeSignal();
  }
}
