import type { Collector, CollectorContext } from "../../src/collectors/collector.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";

/**
 * What the scheduler hands a collector, for calling collect() directly: the collector's own
 * flags at their defaults, no environment, notes dropped, unless `overrides` says otherwise.
 */
export function collectorContext(
  roots: HostRoots,
  target: Target,
  overrides: Partial<CollectorContext> & { readonly collector?: Collector<unknown> } = {},
): CollectorContext {
  const { collector, ...rest } = overrides;
  return {
    roots,
    target,
    signal: new AbortController().signal,
    note: () => undefined,
    env: {},
    rpcTimeoutMs: 500,
    option: (name) => collector?.options?.find((o) => o.name === name)?.defaultValue ?? "",
    ...rest,
  };
}
