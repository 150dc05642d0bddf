import { setFlagsFromString } from "node:v8";

/**
 * V8's heap sizing, made to follow the live data (docs/performance.md#memory). By default V8 grows
 * the young generation to 32 MiB as soon as a burst of allocation survives a scavenge (a cycle's
 * parsing does), and sets the next major GC at up to 4x what survived the last one: at 1,000
 * users a 44 MiB live heap ran in a 120-150 MiB one. Both flags below are read by V8 at each GC,
 * so setting them at start takes effect without a restart; neither is a cap: the heap still
 * grows to V8's default limit when the live data needs it, on a host of any size.
 */
export const heapFlags = [
  // The young generation keeps the size it has at start (1 MiB a semi-space) instead of doubling.
  "--semi-space-growth-factor=1",
  // The next major GC when the old generation is 1.5x what the last one left (V8's minimum step,
  // 8 MiB, still applies to a small heap), instead of up to 4x.
  "--heap-growing-percent=50",
] as const;

/** Heap options a person may have given node: with any of them, their choice stands. */
const chosenByHand =
  /--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor|heap-growing-percent|max-old-space-size|max-heap-size|optimize-for-size)\b/;

/** The flags to set, none when node was started with a heap option of its own. */
export function heapFlagsFor(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): readonly string[] {
  const given = [...execArgv, nodeOptions ?? ""].join(" ").replaceAll("_", "-");
  return chosenByHand.test(given) ? [] : heapFlags;
}

/** Applies heapFlagsFor(...) to this process; returns what was set. */
export function tuneHeap(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env["NODE_OPTIONS"],
): readonly string[] {
  const flags = heapFlagsFor(execArgv, nodeOptions);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
