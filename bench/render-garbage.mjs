// What one /metrics rendering allocates on the heap in host mode (its garbage, which a rendering's
// slices keep long enough to reach the old generation), and where: a Watch over
// bench/host-fixture.mjs's generated host, two cycles, then renderings in which nothing changed
// and one after a cycle, each measured as the growth of the heap with a young generation big
// enough that no GC runs meanwhile; then V8's sampling heap profiler (objects collected by GCs
// included) over three renderings, by allocating function.
// As root, after `npm run build`:
//   node --expose-gc --max-semi-space-size=256 bench/render-garbage.mjs [users=1000] [live=100]
// ROOT=<another built checkout> measures that build (before/after, one after the other).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sampleHeap } from "./heap-sampling.mjs";
import { generateHost, hostMode } from "./host-fixture.mjs";

const root = process.env.ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const [users = 1000, live = 100] = process.argv.slice(2).map(Number);
const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc (and --max-semi-space-size=256)");
const { dist, watch: hostWatch } = await hostMode(root);
const { SnapshotRenderer } = await dist("exporter/render/snapshot.js");
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-garbage-"));
try {
  const { roots } = generateHost(dir, users, live);
  const watch = await hostWatch(roots);
  for (let i = 0; i < 2; i++) await watch.scheduler.runAll();
  // No slicing: the rendering's allocations alone, at once.
  const renderer = new SnapshotRenderer(Number.MAX_SAFE_INTEGER);
  const build = { version: "bench", nodejsVersion: process.version };
  // The body as the daemon serves it: its blocks where the build makes them (renderParts), not
  // joined into one buffer for this bench.
  const render = async () => {
    const steps = watch.snapshotSteps(build);
    if (!renderer.renderParts) return renderer.render(steps);
    const parts = await renderer.renderParts(steps);
    return { length: parts.reduce((sum, part) => sum + part.length, 0) };
  };
  await render();
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);
  const measure = async (label) => {
    gc();
    gc();
    const before = process.memoryUsage();
    const cpu = process.cpuUsage();
    const body = await render();
    const spent = process.cpuUsage(cpu);
    const after = process.memoryUsage();
    console.log(
      `${label}: heap +${mib(after.heapUsed - before.heapUsed)} MiB, array buffers +${mib(after.arrayBuffers - before.arrayBuffers)} MiB (body ${mib(body.length)} MiB), CPU ${((spent.user + spent.system) / 1000).toFixed(1)} ms, users rendered ${renderer.last.rendered}`,
    );
  };
  console.log(`${users} users (${live} live), ${root}`);
  for (let i = 0; i < 3; i++) await measure("a rendering, nothing changed");
  await watch.scheduler.runAll();
  await measure("a rendering after a cycle");
  const profile = await sampleHeap(async () => {
    for (let i = 0; i < 3; i++) await render();
  });
  const bySite = new Map();
  const walk = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const site = `${functionName || "(anonymous)"} ${url.split("/").slice(-2).join("/")}:${lineNumber + 1}`;
    if (node.selfSize) bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  console.log(
    `sampled: ${mib(total / 3)} MiB a rendering, by allocating function (inlined callees in their caller):`,
  );
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`  ${mib(bytes / 3).padStart(6)} MiB  ${site}`);
  await watch.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
