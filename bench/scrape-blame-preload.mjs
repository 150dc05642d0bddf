// Loaded into a daemon by bench/scrape-blame.mjs (node --import): records the main thread's GC
// pauses (perf_hooks "gc" entries) and its event-loop blocks (a 1 ms timer's late turns, over
// 4 ms), in epoch milliseconds, and writes them to $BLAME_OUT when the process exits.
import { writeFileSync } from "node:fs";
import { PerformanceObserver, constants, performance } from "node:perf_hooks";

const out = process.env.BLAME_OUT;
const origin = performance.timeOrigin;
const gcs = [];
const blocks = [];
const kinds = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcs.push({
      start: origin + e.startTime,
      ms: e.duration,
      kind: kinds[e.detail?.kind ?? e.kind] ?? "other",
    });
}).observe({ entryTypes: ["gc"] });
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - last - 1;
  if (late > 4) blocks.push({ start: origin + last + 1, ms: late });
  last = now;
}, 1).unref();
process.on("exit", () => {
  if (out) writeFileSync(out, JSON.stringify({ gcs, blocks }));
});
