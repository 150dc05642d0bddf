// Benchmark: /metrics of the daemon against a bare Node http server that returns a buffer of the
// same size, driven side by side with the same load; then the daemon's RSS across 100,000 scrapes,
// and the subid parser on a 100,000-line file. Run after `npm run build`: `npm run bench`.
// BENCH_SECONDS (default 5) and BENCH_SCRAPES (default 100000) shorten it; BENCH_LIVE=1 runs the
// daemon on this host for the invoking user (beside a running rootless Docker). BENCH_NODE_FLAGS
// (space-separated) are given to the daemon's node, e.g. BENCH_NODE_FLAGS=--lite-mode.
import autocannon from "autocannon";
import { Agent, request } from "node:http";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { healthyFixture, onFixture, startProcess, statusOf, stop } from "./daemon.mjs";

// BENCH_ROOT=<another built checkout> measures that build's daemon with this bench (before/after).
const root = process.env.BENCH_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const scrapes = Number(process.env.BENCH_SCRAPES ?? 100_000);

const rssMiB = (pid, field = "VmRSS") => statusOf(pid)(field);

/**
 * A closed-loop load: `connections` keep-alive clients, each sending the next request when the
 * last answer is read, for `seconds`. Latency in microseconds (autocannon rounds to whole ms).
 */
async function run(url, connections) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  const deadline = performance.now() + seconds * 1000;
  const once = () =>
    new Promise((resolve, reject) => {
      const t = performance.now();
      const req = request(url, { agent }, (res) => {
        res.on("data", () => undefined);
        res.on("end", () => {
          latencies.push((performance.now() - t) * 1000);
          resolve();
        });
      });
      req.on("error", reject);
      req.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) await once();
    }),
  );
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99) };
}

const fixture = healthyFixture(root, "bench-fixture-");
// BENCH_LIVE=1 watches the invoking user on this host instead (run it beside a rootless Docker).
const live = process.env.BENCH_LIVE === "1";
const daemonArgs = live
  ? [join(root, "dist/main.js"), "--web.listen-address=127.0.0.1:0"]
  : onFixture(root, fixture);
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
const daemon = await startProcess([...nodeFlags, ...daemonArgs]);
const metricsUrl = `http://127.0.0.1:${daemon.port}/metrics`;
await new Promise((r) => setTimeout(r, 1000)); // first collection
const body = await (await fetch(metricsUrl)).text();
// Idle: after the first collection and one scrape, before any load.
await new Promise((r) => setTimeout(r, 2000));
const idle = ["VmRSS", "RssAnon", "RssFile"].map((f) => rssMiB(daemon.child.pid, f));
const bodyFile = join(fixture, "body.txt");
writeFileSync(bodyFile, body);
const bare = await startProcess([
  "-e",
  `const b=require("fs").readFileSync(${JSON.stringify(bodyFile)});
   const s=require("http").createServer((q,r)=>{r.writeHead(200,{"content-type":"text/plain; version=0.0.4; charset=utf-8","content-length":b.length});r.end(b)});
   s.listen(0,"127.0.0.1",()=>console.log(JSON.stringify({port:s.address().port})))`,
]);
const bareUrl = `http://127.0.0.1:${bare.port}/`;

console.log(
  `${live ? "live host" : "healthy fixture"}; body ${body.length} bytes; ${seconds}s per run; node ${process.version} ${nodeFlags.join(" ")}`,
);
console.log("conns  server      req/s     p50 µs   p99 µs");
const rows = [];
for (const connections of [1, 32]) {
  // Interleave the two so drift on a noisy machine hits both.
  const bareResult = await run(bareUrl, connections);
  const daemonResult = await run(metricsUrl, connections);
  for (const [name, r] of [
    ["bare", bareResult],
    ["daemon", daemonResult],
  ]) {
    const cells = [r.rps, r.p50, r.p99].map((v) => v.toFixed(0).padStart(9));
    console.log(`${String(connections).padStart(5)}  ${name.padEnd(8)}${cells.join("")}`);
  }
  rows.push({ connections, bareResult, daemonResult });
}
const verdict = (ok) => (ok ? "met" : "NOT met");
for (const { connections, bareResult, daemonResult } of rows) {
  const p99 = daemonResult.p99 / bareResult.p99;
  const rps = daemonResult.rps / bareResult.rps;
  console.log(
    `ratio daemon/bare at ${connections} conns: p99 ${p99.toFixed(2)}x (target <= 1.3x: ${verdict(p99 <= 1.3)}), req/s ${rps.toFixed(2)}x (target >= 0.9x: ${verdict(rps >= 0.9)})`,
  );
}
console.log(
  `daemon RSS idle ${idle[0].toFixed(1)} MiB (target <= 60 MB: ${verdict(idle[0] * 1.048576 <= 60)}): private ${idle[1].toFixed(1)}, file-backed ${idle[2].toFixed(1)}`,
);

const before = rssMiB(daemon.child.pid);
const started = performance.now();
const soak = await autocannon({ url: metricsUrl, connections: 16, amount: scrapes });
const after = rssMiB(daemon.child.pid);
console.log(
  `${soak.requests.total} scrapes in ${((performance.now() - started) / 1000).toFixed(1)} s, errors ${soak.errors}, non-2xx ${soak.non2xx}`,
);
console.log(
  `daemon RSS before ${before.toFixed(1)} MiB, after ${after.toFixed(1)} MiB, growth ${(after - before).toFixed(1)} MiB`,
);
const [anon, file] = ["RssAnon", "RssFile"].map((f) => rssMiB(daemon.child.pid, f).toFixed(1));
console.log(
  `  of which private (RssAnon) ${anon} MiB, file-backed node binary and libraries (RssFile) ${file} MiB`,
);

await stop(daemon.child);
bare.child.kill("SIGTERM");
rmSync(fixture, { recursive: true, force: true });

const { parseSubidFile } = await import(join(root, "dist/collectors/subid/subid-file.js"));
const { indexRanges, summaryFromIndex } = await import(
  join(root, "dist/collectors/subid/subid-index.js")
);
// What the collector does once per change of the file: parse, index by owner, summarize a user.
const summarizeSubidFile = (target, text) =>
  summaryFromIndex(indexRanges(parseSubidFile(text).ranges, []), target);
const text = Array.from(
  { length: 100_000 },
  (_, i) => `user${i}:${100_000 + i * 10_000}:10000`,
).join("\n");
const times = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  summarizeSubidFile({ name: "user77", uid: 77 }, text, []);
  times.push(performance.now() - t);
}
console.log(
  `subid: 100,000 lines parsed and summarized in ${times.map((t) => t.toFixed(1)).join(", ")} ms (first is cold)`,
);
