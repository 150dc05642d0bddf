// What the slow scrapes of a per-user daemon wait for at one connection (issue 19). The daemon(s)
// run on the `healthy` fixture (one user, 5 s interval, exporter metrics on, as `npm run bench`),
// with a preload that records their GC pauses (perf_hooks "gc" entries; no timer of its own, so
// the scrape path is not disturbed), and a bare Node server answers the same number of bytes. One
// client scrapes each server in turn, one request at a time, and keeps each scrape's start and
// end. For each server's slowest 1 %: how many overlapped a GC pause of the daemon, a collection
// cycle (node-cron fires on the clock: the first 100 ms after each multiple of the interval), the
// client's own GC, or none of these. After `npm run build`:
//   node bench/per-user-blame.mjs [seconds=10]
// BLAME_ROOTS=name=<built checkout>,name=<...> runs those builds side by side (default: this one).
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  healthyFixture,
  now,
  onFixture,
  recordGcs,
  scrape,
  startBare,
  startProcess,
  stop,
} from "./daemon.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const seconds = Number(process.argv[2] ?? 10);
const intervalMs = 5000;
const roots = (process.env.BLAME_ROOTS ?? `this=${here}`).split(",").map((p) => p.split("="));
// The fixture's proc/, sys/ and root/, and beside them the bench's own files.
const dir = healthyFixture(here, "per-user-blame-");
const preload = join(dir, "gc-preload.mjs");
writeFileSync(
  preload,
  `import { writeFileSync } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcs.push({ start: performance.timeOrigin + e.startTime, ms: e.duration, kind: e.detail?.kind });
}).observe({ entryTypes: ["gc"] });
process.on("exit", () => writeFileSync(process.env.BLAME_OUT, JSON.stringify(gcs)));`,
);
const clientGcs = recordGcs();

const daemons = [];
for (const [name, root] of roots) {
  const out = join(dir, `${name}.json`);
  const args = [
    "--import",
    preload,
    ...onFixture(root, dir),
    `--collect.interval=${intervalMs / 1000}s`,
  ];
  daemons.push({ ...(await startProcess(args, { BLAME_OUT: out })), name, out });
}
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port) => scrape(agent, port);
await new Promise((r) => setTimeout(r, 1500)); // the first collection
const { bytes } = await get(daemons[0].port);
const bare = { ...(await startBare(dir, bytes)), name: "bare" };
const servers = [...daemons, bare];
for (const s of servers) s.scrapes = [];
const from = now();
while (now() < from + seconds * 1000) for (const s of servers) s.scrapes.push(await get(s.port));
for (const d of daemons) {
  await stop(d.child);
  d.gcs = JSON.parse(readFileSync(d.out, "utf8")).filter((g) => g.start >= from);
}
bare.child.kill("SIGTERM");
agent.destroy();
rmSync(dir, { recursive: true, force: true });

const ms = (s) => s.end - s.start;
const pct = (values, p) => [...values].sort((a, b) => a - b)[Math.floor(values.length * p)];
const overlaps = (s, events) => events.some((e) => e.start < s.end && e.start + e.ms > s.start);
// A cycle starts on the clock; its synchronous parts and the rendering after it take ~10-50 ms.
const inCycle = (s) =>
  s.end % intervalMs < 100 || Math.floor(s.start / intervalMs) !== Math.floor(s.end / intervalMs);
console.log(
  `per-user daemon(s), healthy fixture, body ${bytes} bytes, ${seconds} s, ${bare.scrapes.length} scrapes of each server at one connection, interleaved`,
);
const bareP99 = pct(bare.scrapes.map(ms), 0.99);
for (const s of servers) {
  const all = s.scrapes;
  const p99 = pct(all.map(ms), 0.99);
  const slow = [...all].sort((a, b) => ms(b) - ms(a)).slice(0, Math.ceil(all.length * 0.01));
  const count = (f) => slow.filter(f).length;
  const gcNote = s.gcs
    ? `; its GCs in the window: ${s.gcs.length} (${s.gcs.reduce((a, g) => a + g.ms, 0).toFixed(1)} ms)`
    : "";
  console.log(
    `${s.name.padEnd(8)} p50 ${(pct(all.map(ms), 0.5) * 1000).toFixed(0)} µs, p99 ${(p99 * 1000).toFixed(0)} µs (${(p99 / bareP99).toFixed(2)}x the bare server's)${gcNote}`,
  );
  const blamed = daemons.map((d) => `${d.name}'s GC ${count((x) => overlaps(x, d.gcs))}`);
  const none = count(
    (x) => !inCycle(x) && !overlaps(x, clientGcs) && !daemons.some((d) => overlaps(x, d.gcs)),
  );
  console.log(
    `  slowest ${slow.length} (from ${(ms(slow.at(-1)) * 1000).toFixed(0)} µs): overlapping ${blamed.join(", ")}, a cycle ${count(inCycle)}, the client's GC ${count((x) => overlaps(x, clientGcs))}, none of these ${none}`,
  );
}
