// What a host-mode exporter's live heap is made of, on bench/host-fixture.mjs's generated host:
// a Watch and a renderer in this process, three cycles and a rendering, then each structure let go
// in turn, with the heap after two full GCs before and after (what it alone retained). Also how
// many users' facts are equal by value, per collector, and V8's spaces.
// As root, after `npm run build`: node --expose-gc bench/heap-breakdown.mjs [users=1000] [live=100]
// (ROOT=<another built checkout> measures that build.)
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getHeapSpaceStatistics } from "node:v8";
import { generateHost, hostMode } from "./host-fixture.mjs";

const root = process.env.ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const { MetricsRenderer, watch: hostWatch } = await hostMode(root);
const [users = 1000, live = 100] = process.argv.slice(2).map(Number);
const gc = globalThis.gc;
if (!gc) throw new Error("run with --expose-gc");
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-heap-"));
const { roots } = generateHost(dir, users, live);
const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
const watch = await hostWatch(roots);
const used = () => (gc(), gc(), process.memoryUsage().heapUsed);
const start = used();
for (let i = 0; i < 3; i++) await watch.scheduler.runAll();
const build = { version: "bench", nodejsVersion: process.version };
const renderer = new MetricsRenderer({
  samples: () => watch.snapshot(build),
  exporterMetrics: false,
});
const body = await renderer.render();
let last = used();
const memory = process.memoryUsage();
console.log(
  `${users} users (${live} live): live heap ${mib(last)} MiB (${mib(start)} before the first cycle), ` +
    `external ${mib(memory.external)} MiB (body ${mib(body.length)} MiB), RSS ${mib(memory.rss)} MiB`,
);
for (const s of getHeapSpaceStatistics())
  if (s.space_size > 0)
    console.log(`  ${s.space_name}: ${mib(s.space_size)} MiB, ${mib(s.space_used_size)} used`);

// The scheduler's private parts, reached as a bench may (not an API).
const entries = watch.scheduler.entries;
const json = (facts) => JSON.stringify(facts, (_, v) => (v instanceof Map ? [...v] : v));
for (const entry of entries) {
  const facts = [...entry.slots.values()].map((slot) => slot.state.facts).filter(Boolean);
  console.log(
    `  ${String(entry.name)}: ${facts.length} facts, ${new Set(facts).size} objects, ` +
      `${new Set(facts.map(json)).size} values`,
  );
}
const step = (label) => {
  const now = used();
  console.log(`  retained by ${label}: ${mib(last - now)} MiB`);
  last = now;
};
renderer.stop();
renderer.snapshots.chunks.chunks.clear();
renderer.snapshots.chunks.shared?.clear();
step("the users' rendered parts (ChunkCache)");
for (const entry of entries) {
  for (const slot of entry.slots.values())
    if (slot.state === slot)
      slot.facts = undefined; // a slot that is its own RunState (ledger.ts)
    else slot.state = { ...slot.state, facts: undefined };
  step(`the facts of ${String(entry.name)}`);
}
// The reuse key's fields are on the slot (ledger.ts); older builds kept one `reuse` record.
for (const entry of entries)
  for (const slot of entry.slots.values())
    if ("reuseKey" in slot) slot.reuseKey = undefined;
    else slot.reuse = undefined;
step("the reuse keys");
const none = new Set();
// Only the notes that are not empty: setting a slot's notes makes its side object (ledger.ts Rare).
for (const entry of entries)
  for (const slot of entry.slots.values()) {
    if (slot.notes.size > 0) slot.notes = none;
    slot.inflight = undefined;
  }
step("the slots' notes and abort controllers");
for (const entry of entries) entry.slots.clear();
step("the slots");
for (const watched of watch.scheduler.roster.watched.values()) watched.state.stop();
watch.scheduler.roster.watched.clear();
step("the roster (targets, TargetState)");
watch.host.stop();
step("the host state (collectors' kept values)");
console.log(`  left: ${mib(last)} MiB`);
const rollup = readFileSync("/proc/self/smaps_rollup", "utf8");
console.log(
  rollup
    .split("\n")
    .filter((line) => /^(Rss|Anonymous):/.test(line))
    .join("; "),
);
await watch.stop();
rmSync(dir, { recursive: true, force: true });
