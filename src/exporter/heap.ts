import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/**
 * V8's heap sizing, made to follow the live data (docs/performance.md#memory). After each major GC
 * V8 sets the next one at up to 4x what survived (a factor it derives from the GC's speed against
 * the program's): at 1,000 users a 44 MiB live heap ran in a 120-150 MiB one, so RSS followed the
 * garbage of a cycle, not the data kept. The flag below is read by V8 each time it sets that limit,
 * so setting it at start takes effect without a restart; it is not a cap: the heap still grows to
 * V8's default limit when the live data needs it, on a host of any size.
 *
 * Measured and left out: `--semi-space-growth-factor=1` from the start (a young generation that
 * keeps its start size, 1 MiB a semi-space) cost ~30 % more CPU a cycle; `--optimize-for-size`
 * ~50 % more. YoungGenerationCap below stops the growth at 4 MiB a semi-space instead. As start
 * flags in host mode (docs/performance.md, "V8 flags and allocator settings, measured"):
 * `--max-semi-space-size=1` 1.12-1.29x the daemon's CPU at 1,000 users for 3-14 % less RSS, and
 * more RSS at 10,000; `--optimize-for-size` 1.52-1.55x; `--heap-growing-percent=25` no less RSS.
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

/** The young generation's size (both semi-spaces) past which it is not grown: 8 MiB. */
export const youngGenerationCapBytes = 8 * 2 ** 20;

/**
 * Keeps V8's young generation at most ~8 MiB instead of 32 (two semi-spaces of up to 16 MiB, grown
 * during the first cycle and kept; docs/performance.md#memory): after each garbage collection, the
 * growth factor is set to 1 once the young generation has reached the cap and back to V8's 2 when
 * it is below (V8 shrinks it when allocation is slow). `--max-semi-space-size` would do the same
 * but is read only when node starts. Not a cap on the heap: the old generation is untouched.
 */
export class YoungGenerationCap {
  private observer: PerformanceObserver | undefined;
  private growing = true;

  constructor(private readonly capBytes = youngGenerationCapBytes) {}

  start(): void {
    this.observer ??= new PerformanceObserver(() => this.check());
    this.observer.observe({ entryTypes: ["gc"] });
    this.check();
  }

  /**
   * Sets the growth factor for the young generation's size now; true while it may grow. What is
   * compared is the semi-space's capacity (used + available), not `space_size`: after V8 shrinks
   * the young generation it gives back the idle semi-space's pages at once, so `space_size` halves
   * while the capacity the next growth doubles stays (measured: 8 MiB read as 4, then grown to 16).
   * It may grow while one more doubling of both semi-spaces stays within the cap.
   */
  check(): boolean {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    const semiSpace = young === undefined ? 0 : young.space_used_size + young.space_available_size;
    const grow = 2 * 2 * semiSpace <= this.capBytes;
    if (grow !== this.growing) setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
    this.growing = grow;
    return grow;
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
    if (!this.growing) setFlagsFromString("--semi-space-growth-factor=2");
    this.growing = true;
  }
}
