// What one steady host-mode cycle allocates on the heap (nothing changed, reuse on), and where:
// a Watch over bench/host-fixture.mjs's generated host, two cycles, then cycles measured as the
// growth of the heap with a young generation big enough that no GC runs meanwhile; then V8's
// sampling heap profiler (objects collected by GCs included) over three cycles, by allocating
// function. The fixture is left 2.5 s before the first cycle (the reuse keys' racy guard).
// As root, after `npm run build`:
//   node --expose-gc --max-semi-space-size=256 bench/cycle-garbage.mjs [users=1000] [live=100] [top=25]
// ROOT=<another built checkout> measures that build (before/after, one after the other).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sampleHeap } from "./heap-sampling.mjs";
import { generateHost, hostMode } from "./host-fixture.mjs";

const root = process.env.ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const [users = 1000, live = 100, top = 25] = process.argv.slice(2).map(Number);
const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc (and --max-semi-space-size=256)");
const { watch: hostWatch } = await hostMode(root);
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-cycle-garbage-"));
try {
  const { roots } = generateHost(dir, users, live);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const watch = await hostWatch(roots);
  for (let i = 0; i < 2; i++) await watch.scheduler.runAll();
  const mib = (bytes) => (bytes / 2 ** 20).toFixed(2);
  console.log(`${users} users (${live} live), ${root}`);
  for (let i = 0; i < 3; i++) {
    gc();
    gc();
    const before = process.memoryUsage();
    const cpu = process.cpuUsage();
    await watch.scheduler.runAll();
    const spent = process.cpuUsage(cpu);
    const after = process.memoryUsage();
    console.log(
      `a steady cycle: heap +${mib(after.heapUsed - before.heapUsed)} MiB, CPU ${((spent.user + spent.system) / 1000).toFixed(1)} ms`,
    );
  }
  const profile = await sampleHeap(async () => {
    for (let i = 0; i < 3; i++) await watch.scheduler.runAll();
  });
  const bySite = new Map();
  const byFile = new Map();
  const walk = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split("/").slice(-2).join("/");
    const site = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    if (node.selfSize) {
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      byFile.set(file, (byFile.get(file) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  console.log(
    `sampled: ${mib(total / 3)} MiB a cycle, by allocating function (inlined callees in their caller):`,
  );
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${mib(bytes / 3).padStart(6)} MiB  ${site}`);
  console.log("by file:");
  for (const [file, bytes] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${mib(bytes / 3).padStart(6)} MiB  ${file || "(native)"}`);
  await watch.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
