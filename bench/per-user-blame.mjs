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
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
const seconds = Number(process.argv[2] ?? 10);
const intervalMs = 5000;
const roots = (process.env.BLAME_ROOTS ?? `this=${here}`).split(",").map((p) => p.split("="));
const dir = mkdtempSync(join(tmpdir(), "per-user-blame-"));
const fixture = join(dir, "fixture");
cpSync(join(here, "test/fixtures/healthy"), fixture, { recursive: true });
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
const now = () => performance.timeOrigin + performance.now();
const clientGcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    clientGcs.push({ start: performance.timeOrigin + e.startTime, ms: e.duration });
}).observe({ entryTypes: ["gc"] });

function start(args, env = {}) {
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const match = /"port":(\d+)/.exec(buffered);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code}`)));
  });
}

const daemons = [];
for (const [name, root] of roots) {
  const out = join(dir, `${name}.json`);
  const args = [
    "--import",
    preload,
    join(root, "dist/main.js"),
    `--path.procfs=${fixture}/proc`,
    `--path.sysfs=${fixture}/sys`,
    `--path.rootfs=${fixture}/root`,
    "--target.user=alice",
    "--web.listen-address=127.0.0.1:0",
    `--collect.interval=${intervalMs / 1000}s`,
  ];
  daemons.push({ ...(await start(args, { BLAME_OUT: out })), name, out });
}
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port) =>
  new Promise((resolve, reject) => {
    const started = now();
    request({ host: "127.0.0.1", port, path: "/metrics", agent }, (res) => {
      let bytes = 0;
      res.on("data", (chunk) => (bytes += chunk.length));
      res.on("end", () => resolve({ start: started, end: now(), bytes }));
    })
      .on("error", reject)
      .end();
  });
await new Promise((r) => setTimeout(r, 1500)); // the first collection
const { bytes } = await get(daemons[0].port);
const bareFile = join(dir, "bare.mjs");
writeFileSync(
  bareFile,
  `import { createServer } from "node:http";
const body = Buffer.alloc(${bytes}, 0x61);
const server = createServer((req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(body); });
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));`,
);
const bare = { ...(await start([bareFile])), name: "bare" };
const servers = [...daemons, bare];
for (const s of servers) s.scrapes = [];
const from = now();
while (now() < from + seconds * 1000) for (const s of servers) s.scrapes.push(await get(s.port));
for (const d of daemons) {
  const exited = new Promise((r) => d.child.once("exit", r));
  d.child.kill("SIGTERM");
  await exited;
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
