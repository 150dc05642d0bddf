// What the slow scrapes of a host-mode daemon wait for (issue 19). On the generated host of
// bench/host-mode.mjs, a daemon (with bench/scrape-blame-preload.mjs: its GC pauses and
// event-loop blocks) and a bare Node server answering the same number of bytes are scraped
// alternately; each scrape's start and end are kept. Then, for the slowest 2 % of each server's
// scrapes, what overlapped them: the daemon's major and minor GC pauses, its loop blocks (over
// 4 ms), the bench client's own GC pauses. As root, after `npm run build`:
//   node bench/scrape-blame.mjs [users=10000] [live=users/10]
// BLAME_ROOT=<a built checkout> measures that build's daemon; BLAME_SECONDS (40) of scrapes once
// the daemon's first cycle is done; BLAME_INTERVAL (15s) is its interval; BLAME_ARGS adds
// daemon arguments (space-separated).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { generateHost } from "./host-fixture.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = process.env.BLAME_ROOT ?? join(here, "..");
const users = Number(process.argv[2] ?? 10000);
const live = Number(process.argv[3] ?? Math.round(users / 10));
const seconds = Number(process.env.BLAME_SECONDS ?? 40);
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-blame-"));
const { roots } = generateHost(dir, users, live);
const out = join(dir, "blame.json");
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
const daemon = await start(
  [
    "--import",
    join(here, "scrape-blame-preload.mjs"),
    join(root, "dist/main.js"),
    `--path.procfs=${roots.procfs}`,
    `--path.sysfs=${roots.sysfs}`,
    `--path.rootfs=${roots.rootfs}`,
    "--web.listen-address=127.0.0.1:0",
    `--collect.interval=${process.env.BLAME_INTERVAL ?? "15s"}`,
    "--collect.rpc-timeout=200ms",
    "--web.disable-exporter-metrics",
    ...(process.env.BLAME_ARGS ? process.env.BLAME_ARGS.split(" ") : []),
  ],
  { BLAME_OUT: out },
);
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
// The first cycle done: the body stops growing (twice the same size, 2 s apart), or 300 s.
const waitUntil = Date.now() + 300_000;
let size = 0;
for (;;) {
  await new Promise((r) => setTimeout(r, 2000));
  const { bytes } = await get(daemon.port);
  if ((bytes > 10_000 && bytes === size) || Date.now() > waitUntil) break;
  size = bytes;
}
const bareFile = join(dir, "bare.mjs");
writeFileSync(
  bareFile,
  `import { createServer } from "node:http";
const body = Buffer.alloc(${size}, 0x61);
const server = createServer((req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(body); });
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));`,
);
const bare = await start([bareFile]);
const scrapes = { daemon: [], bare: [] };
const cpu = () => {
  const fields = readFileSync(`/proc/${daemon.child.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const cpuBefore = cpu();
const from = now();
while (now() < from + seconds * 1000) {
  scrapes.daemon.push(await get(daemon.port));
  scrapes.bare.push(await get(bare.port));
}
const daemonCpu = cpu() - cpuBefore;
const peak = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.child.pid}/status`))[1]);
const exited = new Promise((r) => daemon.child.once("exit", r));
daemon.child.kill("SIGTERM");
bare.child.kill("SIGTERM");
await exited;
agent.destroy();
const { gcs, blocks } = JSON.parse(readFileSync(out, "utf8"));
rmSync(dir, { recursive: true, force: true });

const overlap = (s, events) =>
  events.reduce(
    (sum, e) => sum + Math.max(0, Math.min(s.end, e.start + e.ms) - Math.max(s.start, e.start)),
    0,
  );
const inWindow = (events) => events.filter((e) => e.start >= from);
const ms = (s) => s.end - s.start;
const pct = (values, p) => [...values].sort((a, b) => a - b)[Math.floor(values.length * p)];
const sum = (values) => values.reduce((a, b) => a + b, 0);
const major = inWindow(gcs).filter((g) => g.kind === "major");
const minor = inWindow(gcs).filter((g) => g.kind === "minor");
console.log(
  `${users} users / ${live} live, body ${(size / 2 ** 20).toFixed(1)} MiB, ${seconds} s, ${scrapes.daemon.length} scrapes each; daemon CPU ${daemonCpu} ms (${((100 * daemonCpu) / (seconds * 1000)).toFixed(0)} % of a core), peak RSS ${(peak / 1024).toFixed(0)} MiB`,
);
console.log(
  `daemon main thread in the window: ${major.length} major GCs (${sum(major.map((g) => g.ms)).toFixed(0)} ms, longest ${Math.max(0, ...major.map((g) => g.ms)).toFixed(1)}), ${minor.length} minor (${sum(minor.map((g) => g.ms)).toFixed(0)} ms, longest ${Math.max(0, ...minor.map((g) => g.ms)).toFixed(1)}), ${inWindow(blocks).length} loop blocks over 4 ms (${sum(inWindow(blocks).map((b) => b.ms)).toFixed(0)} ms, longest ${Math.max(0, ...inWindow(blocks).map((b) => b.ms)).toFixed(1)})`,
);
for (const name of ["daemon", "bare"]) {
  const all = scrapes[name];
  const p50 = pct(all.map(ms), 0.5);
  const p99 = pct(all.map(ms), 0.99);
  const slow = [...all]
    .sort((a, b) => ms(b) - ms(a))
    .slice(0, Math.max(1, Math.ceil(all.length * 0.02)));
  const mean = (f) => sum(slow.map(f)) / slow.length;
  console.log(
    `${name.padEnd(6)} p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; slowest ${slow.length}: mean ${mean(ms).toFixed(1)} ms, of which overlapped by the daemon's major GC ${mean((s) => overlap(s, major)).toFixed(1)}, minor GC ${mean((s) => overlap(s, minor)).toFixed(1)}, loop blocks ${mean((s) => overlap(s, blocks)).toFixed(1)}; the client's GC ${mean((s) => overlap(s, clientGcs)).toFixed(1)}`,
  );
}
const daemonP99 = pct(scrapes.daemon.map(ms), 0.99);
const bareP99 = pct(scrapes.bare.map(ms), 0.99);
console.log(`p99 daemon / bare: ${(daemonP99 / bareP99).toFixed(2)}x`);
