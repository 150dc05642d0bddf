// The event loop's longest blocks while host mode's cycles and renderings run (issue 19: "the
// scrape path owns its own time"). In one process, on the generated host of bench/host-mode.mjs:
// a host-mode Watch whose changes invalidate a MetricsRenderer, as the daemon wires them; a 1 ms
// timer records how late each of its turns comes (a scrape arriving then would wait as long);
// `cycles` cycles run one after the other, each followed by its rendering. With LOOP_PROFILE=1 a
// CPU profile (node:inspector, 250 µs) names the code of each long block: the innermost function
// of this project's dist/ in most of its samples, or V8's (garbage collector) / (program).
// Run as root after `npm run build`: node --expose-gc bench/loop-blocks.mjs [users=1000] [live=100] [cycles=3]
// LOOP_BENCH_ROOT=<another built checkout> measures that build; LOOP_EXPORTER_METRICS=1 adds
// the process metrics to each rendering, as a daemon without --web.disable-exporter-metrics does.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateHost, hostMode } from "./host-fixture.mjs";

const root = process.env.LOOP_BENCH_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const [userCount = 1000, liveCount = 100, cycles = 3] = process.argv.slice(2).map(Number);
const profile = process.env.LOOP_PROFILE === "1";
const { MetricsRenderer, watch: hostWatch } = await hostMode(root);

const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-loop-bench-"));
const { roots } = generateHost(dir, userCount, liveCount);
let renderer;
const watch = await hostWatch(roots, [], { onChange: () => renderer.invalidate() });
const build = { version: "bench", nodejsVersion: process.version };
renderer = new MetricsRenderer({
  // The daemon's wiring (service.ts): the snapshot taken in steps, where the build has them.
  samples: () => (watch.snapshotSteps ? watch.snapshotSteps(build) : watch.snapshot(build)),
  exporterMetrics: process.env.LOOP_EXPORTER_METRICS === "1",
});

// The first cycle and rendering (every user new), then a full GC: the measured cycles are the
// steady state the daemon spends its life in.
await watch.scheduler.runAll();
let body = await renderer.render();
const settle = async () => {
  // The rendering the cycle's end asked for (coalesced and paced by the renderer), done.
  for (let i = 0; i < 600; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = renderer.render();
    if (Buffer.isBuffer(now) && now !== body) {
      body = now;
      return;
    }
  }
};
await settle();
globalThis.gc?.();

const session = profile ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 250 });
  await session.post("Profiler.start");
  // Starting the profiler holds the event loop (hundreds of ms on a big heap): not a block of ours.
  await new Promise((resolve) => setTimeout(resolve, 500));
}
/**
 * Turns of a 1 ms timer: each block is how much later than 1 ms a turn came, or the main thread's
 * own CPU time since the last turn when that is less (Linux's schedstat: another process holding
 * the CPU of this shared machine is not a block of ours), and when it ended.
 */
const mainThreadMs = () =>
  Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
const blocks = [];
let last = performance.now();
let lastCpu = mainThreadMs();
const timer = setInterval(() => {
  const now = performance.now();
  const cpu = mainThreadMs();
  blocks.push({ ms: Math.min(now - last - 1, cpu - lastCpu), wall: now - last - 1, end: now });
  last = now;
  lastCpu = cpu;
}, 1);

const t0 = performance.now();
const spans = [];
for (let i = 0; i < cycles; i++) {
  const start = performance.now();
  await watch.scheduler.runAll();
  const collected = performance.now();
  await settle();
  spans.push({ start, collected, rendered: performance.now() });
}
const t1 = performance.now();
const result = session ? (await session.post("Profiler.stop")).profile : undefined;
clearInterval(timer);

const within = blocks.filter((b) => b.end >= t0 && b.end <= t1);
const inside = within.map((b) => b.ms);
const walls = within.map((b) => b.wall).sort((a, b) => a - b);
const sorted = [...inside].sort((a, b) => a - b);
const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
console.log(
  `${userCount} users (${liveCount} live), ${cycles} cycles with their renderings; body ${(body.length / 1024).toFixed(0)} KiB; node ${process.version}; ${root}`,
);
for (const [i, s] of spans.entries())
  console.log(
    `  cycle ${i + 1}: collection ${(s.collected - s.start).toFixed(0)} ms, then rendering within ${(s.rendered - s.collected).toFixed(0)} ms (wall)`,
  );
console.log(
  `  blocks seen by a 1 ms timer over ${((t1 - t0) / 1000).toFixed(1)} s (${inside.length} turns): p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, p99.9 ${at(0.999).toFixed(2)} ms, max ${at(1).toFixed(1)} ms (wall lateness alone: p99 ${walls[Math.floor(0.99 * walls.length)]?.toFixed(2)} ms, max ${walls.at(-1)?.toFixed(1)} ms)`,
);
const longest = blocks
  .filter((b) => b.end >= t0 && b.end <= t1)
  .sort((a, b) => b.ms - a.ms)
  .slice(0, 12);
const phase = (end) => {
  for (const [i, s] of spans.entries()) {
    if (end >= s.start && end <= s.collected) return `cycle ${i + 1} collection`;
    if (end > s.collected && end <= s.rendered) return `cycle ${i + 1} rendering`;
  }
  return "between";
};

if (result) {
  // Samples in time order; the profile's clock is not performance.now()'s: aligned at its end.
  const nodes = new Map(result.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of result.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ours = `${join(root, "dist")}/`;
  const label = (id) => {
    const own = nodes.get(id).callFrame;
    if (own.functionName.startsWith("(")) return own.functionName;
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at).callFrame;
      if (frame.url.includes(ours))
        return `${frame.functionName || "(anonymous)"} ${frame.url.slice(frame.url.indexOf(ours) + ours.length)}:${frame.lineNumber + 1}`;
    }
    return `${own.functionName || "(anonymous)"} ${own.url.split("/").slice(-2).join("/")}`;
  };
  const times = [];
  let t = result.startTime;
  for (const delta of result.timeDeltas) times.push((t += delta));
  const shift = t1 * 1000 - result.endTime;
  console.log("  the longest blocks, and the code in most of their samples:");
  for (const b of longest) {
    const from = (b.end - b.ms - 1) * 1000 - shift;
    const to = b.end * 1000 - shift;
    const count = new Map();
    let total = 0;
    for (const [i, time] of times.entries()) {
      if (time < from || time > to) continue;
      const name = label(result.samples[i]);
      if (name === "(idle)") continue;
      count.set(name, (count.get(name) ?? 0) + 1);
      total++;
    }
    const top = [...count.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(
      `    ${b.ms.toFixed(1)} ms (${phase(b.end)}): ${top.map(([n, c]) => `${n} ${((100 * c) / total).toFixed(0)}%`).join("; ")}`,
    );
    // LOOP_STACKS=N: the N most frequent whole stacks of the longest block (its callers too).
    if (b === longest[0] && process.env.LOOP_STACKS) {
      const stacks = new Map();
      for (const [i, time] of times.entries()) {
        if (time < from || time > to) continue;
        const frames = [];
        for (let id = result.samples[i]; id !== undefined; id = parent.get(id)) {
          const f = nodes.get(id).callFrame;
          if (f.functionName !== "(root)")
            frames.push(
              `${f.functionName || "(anonymous)"}:${f.url.split("/").pop()}:${f.lineNumber + 1}`,
            );
        }
        const key = frames.slice(0, 10).join(" < ");
        stacks.set(key, (stacks.get(key) ?? 0) + 1);
      }
      const most = [...stacks.entries()].sort((a, b) => b[1] - a[1]);
      for (const [key, c] of most.slice(0, Number(process.env.LOOP_STACKS)))
        console.log(`      ${c} samples: ${key}`);
    }
  }
} else {
  console.log(
    `  the longest blocks: ${longest.map((b) => `${b.ms.toFixed(1)} ms (${phase(b.end)})`).join(", ")}`,
  );
}
renderer.stop();
await watch.stop();
rmSync(dir, { recursive: true, force: true });
