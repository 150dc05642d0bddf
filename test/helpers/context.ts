import type { Collector, HostContext, UserContext } from "../../src/collectors/collector.js";
import { Cycle, HostState, TargetState } from "../../src/collectors/state.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";

/**
 * What the scheduler hands a collector, for calling collect() directly: a fresh cycle, host and
 * target state, the collector's own flags at their defaults, no environment, notes dropped,
 * unless `overrides` says otherwise. It serves a host collector and a user collector alike.
 */
export function collectorContext(
  roots: HostRoots,
  target: Target,
  overrides: Partial<UserContext> & { readonly collector?: Collector<unknown> } = {},
): UserContext & HostContext {
  const { collector, ...rest } = overrides;
  const host = rest.host ?? new HostState();
  return {
    roots,
    target,
    targets: [target],
    state: new TargetState(undefined),
    self: true,
    cycle: new Cycle((uid) => uid === target.uid),
    host,
    signal: new AbortController().signal,
    note: () => undefined,
    env: {},
    rpcTimeoutMs: 500,
    option: (name) => collector?.options?.find((o) => o.name === name)?.defaultValue ?? "",
    ...rest,
  };
}
