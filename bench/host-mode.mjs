// Host mode at scale, on a generated host (bench/host-fixture.mjs): `users` accounts, the first
// `live` with a rootless daemon's processes and runtime dir. Side by side in one process:
//  - host mode: one exporter (as root, no --target.user) for the whole host, cycle after cycle;
//  - per-user mode run `live` times: one exporter per live user (--target.user), one cycle each;
//  - one /metrics rendering: the whole one (every user's series made and written) against the
//    incremental one (users' chunks reused when their facts did not change);
// then RSS, and /metrics latency of a host-mode daemon while its cycles run, against a bare Node
// server answering a buffer of the same size, with the same load, interleaved.
// Run as root after `npm run build`: node --expose-gc bench/host-mode.mjs [cycles=5] [users=1000] [live=100]
// HOST_BENCH_SINGLE=0 leaves out the per-user mode, HOST_BENCH_SETTLE_MS (2500) is the pause after
// the fixture is written (the reuse keys' racy guard), HOST_BENCH_SCRAPE_SECONDS (20) bounds the
// scrapes, HOST_BENCH_HOMES=1 gives every user an empty home, HOST_BENCH_INTERVAL (15s) is the daemon's, HOST_BENCH_JSON=<file> writes the figures there
// (bench/host-curve.mjs reads them).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess } from "./daemon.mjs";
import {
  generateHost,
  hostMode,
  rootFlags,
  unitCommand,
  unitCommandText,
} from "./host-fixture.mjs";

// HOST_BENCH_ROOT=<a checkout built with npm run build> measures that build instead (before/after).
const root = process.env.HOST_BENCH_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const [cycles = 5, userCount = 1000, liveCount = 100] = process.argv.slice(2).map(Number);
const single = process.env.HOST_BENCH_SINGLE !== "0";
const scrapeSeconds = Number(process.env.HOST_BENCH_SCRAPE_SECONDS ?? 20);
// The daemon's interval: the default 15 s (a cycle or two within the scrapes); 1s runs cycles
// back to back, each starting while the last still runs (a stress, not a steady state).
const interval = process.env.HOST_BENCH_INTERVAL ?? "15s";
if (process.getuid?.() !== 0) {
  console.error(
    "bench/host-mode.mjs needs root: host mode is what root runs, and procfs owners are chowned",
  );
  process.exit(2);
}
const { dist, MetricsRenderer, watch: hostWatch } = await hostMode(root);
const [{ exposition }, { samplesFrom }] = await Promise.all([
  dist("exporter/render/exposition.js"),
  dist("exporter/render/samples.js"),
]);

const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-host-bench-"));
const { roots, names } = generateHost(dir, userCount, liveCount);
const cpuMs = (used) => (used.user + used.system) / 1000;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const mib = (bytes) => bytes / 2 ** 20;
const figures = { users: userCount, live: liveCount };
const verdict = (value, target, unit = "") =>
  `target <= ${target}${unit}: ${value <= target ? "met" : "NOT met"}`;

/** A host-mode Watch over the generated host, with `extra` flags. */
const watchFor = (extra) => hostWatch(roots, extra);

console.log(`generated host: ${userCount} users, ${liveCount} with a rootless daemon (${dir})`);
// Files written within 2 s of a reuse key get none (git's "racy" guard, collectors/live-inputs.ts):
// on a real host they were not all written a moment ago. HOST_BENCH_SETTLE_MS (2500) waits that
// long after the fixture was written, so the cycles below see settled files.
await new Promise((resolve) =>
  setTimeout(resolve, Number(process.env.HOST_BENCH_SETTLE_MS ?? 2500)),
);
const rssBefore = mib(process.memoryUsage().rss);

// Host mode: one exporter for the host. The first cycle finds everything new.
const host = await watchFor([]);
let before = process.cpuUsage();
await host.scheduler.runAll();
figures.firstCycleMs = cpuMs(process.cpuUsage(before));
// The first cycle's garbage collected before the steady state is measured, as before the cycle
// in full below (with --expose-gc): neither pays for the other's allocations.
globalThis.gc?.();
const hostCpu = [];
for (let i = 0; i < cycles; i++) {
  before = process.cpuUsage();
  await host.scheduler.runAll();
  hostCpu.push(cpuMs(process.cpuUsage(before)));
}
figures.cycleMs = median(hostCpu);
const build = { version: "bench", nodejsVersion: process.version };
// Builds before the incremental rendering had Watch.samples (a SampleSet) and no Watch.snapshot.
const incremental = typeof host.snapshot === "function";
const snapshot = () => (incremental ? host.snapshot(build) : host.samples(build));
const wholeText = async () =>
  exposition(incremental ? samplesFrom(host.snapshot(build)) : await host.samples(build));

// Renderings: the whole one against the incremental one, first and after a cycle.
const renderer = new MetricsRenderer({
  samples: snapshot,
  exporterMetrics: false,
});
before = process.cpuUsage();
const body = await renderer.render();
figures.firstRenderMs = cpuMs(process.cpuUsage(before));
const wholeMs = [];
const againMs = [];
let last = body;
for (let i = 0; i < (cycles >= 3 ? 3 : 1); i++) {
  before = process.cpuUsage();
  const whole = Buffer.from(await wholeText());
  wholeMs.push(cpuMs(process.cpuUsage(before)));
  if (i === 0 && !whole.equals(body)) throw new Error("incremental and whole renderings differ");
  await host.scheduler.runAll();
  renderer.invalidate();
  before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 60)); // past the coalescing pause
  while (renderer.render() === last) await new Promise((resolve) => setTimeout(resolve, 10));
  againMs.push(cpuMs(process.cpuUsage(before)));
  last = renderer.render();
}
renderer.stop();
figures.wholeRenderMs = median(wholeMs);
figures.renderMs = median(againMs);
figures.bodyKiB = body.length / 1024;
figures.rssAfterCyclesMiB = mib(process.memoryUsage().rss);
globalThis.gc?.();
figures.liveHeapMiB = mib(process.memoryUsage().heapUsed);
const watched = host.scheduler.targets().length;
await host.stop();

// Nothing in this fixture changes between cycles: the cycles above are the steady state, where
// idle users' collectors reuse their last facts (issue 19). A cycle in full, as every 20th is
// (the reuse bound) and as one where every user changed would be: the same host with reuse off.
// Builds before reuse have no --collect.reuse-max-age: their every cycle is in full.
let fullCpu = hostCpu;
try {
  const full = await watchFor(["--collect.reuse-max-age=0"]);
  await full.scheduler.runAll();
  globalThis.gc?.();
  fullCpu = [];
  for (let i = 0; i < Math.min(cycles, 3); i++) {
    before = process.cpuUsage();
    await full.scheduler.runAll();
    fullCpu.push(cpuMs(process.cpuUsage(before)));
  }
  await full.stop();
} catch (err) {
  if (!/reuse-max-age/.test(String(err))) throw err;
}
figures.fullCycleMs = median(fullCpu);
// A full run at least every 20 runs (19 reuses): the cost per cycle over the bound's period.
figures.averageCycleMs = (19 * figures.cycleMs + figures.fullCycleMs) / 20;
console.log(`host mode: ${watched} users watched, ${cycles} cycles after the first`);
console.log(
  `  CPU per cycle: first ${figures.firstCycleMs.toFixed(0)} ms, then median ${figures.cycleMs.toFixed(0)} ms, max ${Math.max(...hostCpu).toFixed(0)} ms`,
);
console.log(
  `  a cycle in full (--collect.reuse-max-age=0): median ${figures.fullCycleMs.toFixed(0)} ms`,
);
console.log(
  `  /metrics (${figures.bodyKiB.toFixed(0)} KiB): first rendering ${figures.firstRenderMs.toFixed(1)} ms CPU; after a cycle ${figures.renderMs.toFixed(1)} ms, the whole rendering ${figures.wholeRenderMs.toFixed(1)} ms: ${(figures.renderMs / figures.wholeRenderMs).toFixed(2)}x`,
);
console.log(
  `  RSS: ${rssBefore.toFixed(0)} MiB before, ${figures.rssAfterCyclesMiB.toFixed(0)} MiB after the cycles and renderings; live heap after a full GC: ${globalThis.gc ? `${figures.liveHeapMiB.toFixed(0)} MiB` : "run with --expose-gc"}`,
);

if (single) {
  // Per-user mode, once per live user: each warmed up, then one cycle each per round.
  const exporters = [];
  for (let i = 0; i < liveCount; i++) exporters.push(await watchFor([`--target.user=${names[i]}`]));
  for (const w of exporters) await w.scheduler.runAll();
  const singleCpu = [];
  for (let round = 0; round < Math.min(cycles, 3); round++) {
    before = process.cpuUsage();
    for (const w of exporters) await w.scheduler.runAll();
    singleCpu.push(cpuMs(process.cpuUsage(before)));
  }
  for (const w of exporters) await w.stop();
  figures.perUserMs = median(singleCpu);
  const ratio = figures.cycleMs / figures.perUserMs;
  console.log(
    `per-user mode x${liveCount} (the live users only): median ${figures.perUserMs.toFixed(0)} ms CPU per round of one cycle each`,
  );
  const full = figures.fullCycleMs / figures.perUserMs;
  const average = figures.averageCycleMs / figures.perUserMs;
  figures.steadyRatio = ratio;
  figures.averageRatio = average;
  console.log(
    `  host mode (all ${watched} users) / per-user x${liveCount}, steady state (nothing changed since the last cycle): ${ratio.toFixed(2)}x (${verdict(ratio, 0.1, "x")})`,
  );
  console.log(
    `  a cycle in full (reuse off: ${figures.fullCycleMs.toFixed(0)} ms): ${full.toFixed(2)}x; per cycle over the reuse bound (19 reused, 1 full): ${average.toFixed(2)}x (${verdict(average, 0.5, "x")})`,
  );
}

// Scrapes while cycles run: a host-mode daemon against a bare server answering the same bytes.
const bareFile = join(dir, "bare.mjs");
writeFileSync(
  bareFile,
  `import { createServer } from "node:http";
const body = Buffer.alloc(${body.length}, 0x61);
const server = createServer((req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(body); });
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));`,
);
// The daemon as the system unit starts it: the unit's Environment= and the node options of its
// ExecStart= (HOST_BENCH_UNIT_ENV=0: neither).
const asUnit =
  process.env.HOST_BENCH_UNIT_ENV === "0" ? { env: {}, nodeArgs: [] } : unitCommand(root);
const daemon = await startProcess(
  [
    ...asUnit.nodeArgs,
    join(root, "dist/main.js"),
    ...rootFlags(roots),
    "--web.listen-address=127.0.0.1:0",
    `--collect.interval=${interval}`,
    "--collect.rpc-timeout=200ms",
    "--web.disable-exporter-metrics",
  ],
  asUnit.env,
);
const bare = await startProcess([bareFile]);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port) =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    request({ host: "127.0.0.1", port, path: "/metrics", agent }, (res) => {
      let bytes = 0;
      res.on("data", (chunk) => (bytes += chunk.length));
      res.on("end", () => resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, bytes }));
    })
      .on("error", reject)
      .end();
  });
// The first cycle done: the body has every watched user's series, or at most HOST_BENCH_WAIT_SECONDS
// (180) of waiting (a host too big for the interval never gets there: its runs time out).
const waitUntil = Date.now() + Number(process.env.HOST_BENCH_WAIT_SECONDS ?? 180) * 1000;
let served = (await get(daemon.port)).bytes;
while (served < body.length * 0.9 && Date.now() < waitUntil) {
  await new Promise((r) => setTimeout(r, 500));
  served = (await get(daemon.port)).bytes;
}
if (served < body.length * 0.9)
  console.log(
    `  the daemon's body is still ${(served / 1024).toFixed(0)} KiB of ${(body.length / 1024).toFixed(0)}: its first cycle has not ended`,
  );
figures.firstCycleDone = served >= body.length * 0.9;
const status = (field) => {
  const text = readFileSync(`/proc/${daemon.child.pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)[1]) / 1024;
};
const latencies = { daemon: [], bare: [] };
const deadline = Date.now() + scrapeSeconds * 1000;
for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
  // Interleaved, so both see the same moments of this noisy machine.
  latencies.daemon.push((await get(daemon.port)).ms);
  latencies.bare.push((await get(bare.port)).ms);
}
const p99 = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)];
figures.scrapeP99Ms = p99(latencies.daemon);
figures.bareP99Ms = p99(latencies.bare);
figures.daemonRssMiB = status("VmRSS");
figures.daemonPeakRssMiB = status("VmHWM");
const scrapeRatio = figures.scrapeP99Ms / figures.bareP99Ms;

console.log(
  `scrapes while cycles run (${interval} interval, ${scrapeSeconds} s, ${latencies.daemon.length} each, interleaved; the daemon started as the unit starts it: ${unitCommandText(asUnit)}):`,
);
console.log(
  `  p99 daemon ${figures.scrapeP99Ms.toFixed(2)} ms, bare ${figures.bareP99Ms.toFixed(2)} ms: ${scrapeRatio.toFixed(2)}x (${verdict(scrapeRatio, 1.3, "x")})`,
);
const rssTarget = userCount <= 1000 ? 100 : 250;
console.log(
  `  daemon RSS ${figures.daemonRssMiB.toFixed(0)} MiB, peak ${figures.daemonPeakRssMiB.toFixed(0)} MiB (${verdict(figures.daemonPeakRssMiB * 1.048576, rssTarget, " MB")})`,
);
daemon.child.kill("SIGTERM");
bare.child.kill("SIGTERM");
agent.destroy();
rmSync(dir, { recursive: true, force: true });
if (process.env.HOST_BENCH_JSON)
  writeFileSync(process.env.HOST_BENCH_JSON, JSON.stringify(figures));
