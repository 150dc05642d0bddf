import { setFlagsFromString } from "node:v8";

/**
 * V8's heap sizing, made to follow the live data (docs/performance.md#memory). After each major GC
 * V8 sets the next one at up to 4x what survived (a factor it derives from the GC's speed against
 * the program's): at 1,000 users a 44 MiB live heap ran in a 120-150 MiB one, so RSS followed the
 * garbage of a cycle, not the data kept. The flag below is read by V8 each time it sets that limit,
 * so setting it at start takes effect without a restart; it is not a cap: the heap still grows to
 * V8's default limit when the live data needs it, on a host of any size.
 *
 * Measured and left out: `--semi-space-growth-factor=1` (a young generation that keeps its start
 * size, 1 MiB a semi-space, instead of growing to 16 MiB) saved another ~30 MiB at 1,000 users for
 * ~30 % more CPU a cycle; `--optimize-for-size` saved a little more for ~50 % more.
 */
export const heapFlags = [
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
