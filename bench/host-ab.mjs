// Two builds' host-mode daemons side by side on the same generated host, scraped alternately:
// peak RSS, mean RSS, CPU and scrape p99 of each, and their ratios (same moments of a noisy
// machine for both). As root, after `npm run build` here and in the other checkout:
//   node bench/host-ab.mjs <other built checkout> [users] [live]
// HOST_AB_SECONDS (45) of scrapes once every body is complete (see below; HOST_AB_WAIT_SECONDS),
// a round (one scrape of each daemon) every HOST_AB_PAUSE_MS (20) ms.
// Each daemon is started as its own checkout's system unit starts it (deploy/systemd's
// Environment= lines and the node options of its ExecStart=); HOST_AB_UNIT_ENV=after does so for
// the "after" daemon only (the same build twice: what the unit's settings change), =none for
// neither. HOST_AB_VARIANTS adds daemons of this checkout, each started as "after" is and then
// with its own settings, e.g.
//   HOST_AB_VARIANTS='{"semi2":"NODE_OPTIONS=--max-semi-space-size=2","arena2":"MALLOC_ARENA_MAX=2 --v8-pool-size=2"}'
// (a NAME=value word sets that variable, NODE_OPTIONS words add up; a --word is a node option);
// HOST_AB_AFTER=0 leaves the plain "after" daemon out (fewer daemons on the machine at once).
// Peak RSS is the process's VmHWM (its first cycle included); the peak while scraped, the mean
// RSS and the mean anonymous RSS are /proc/PID/status sampled every 250 ms while scraped.
// HOST_AB_HEAP=1 preloads into each daemon (NODE_OPTIONS=--require) a sampler of its V8 heap
// every 250 ms, and prints the means over the scraped part of the run: heap committed (young,
// old), used, array buffers, and the rest of the anonymous RSS (malloc, thread stacks).
// HOST_AB_SMAPS=1 prints, at the end, each daemon's resident pages by mapping (/proc/PID/smaps).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateHost, unitCommand, unitCommandText } from "./host-fixture.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const [other, users = 1000, live = 100] = process.argv.slice(2);
if (!other || process.getuid?.() !== 0) {
  console.error("usage (as root): node bench/host-ab.mjs <other built checkout> [users] [live]");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-host-ab-"));
const { roots, names: userNames } = generateHost(dir, Number(users), Number(live));
const builds = { before: other, after: here };
/** A variant's words: NAME=value (NODE_OPTIONS words joined) and node options. */
function parseVariant(text) {
  const env = {};
  const nodeArgs = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (word.startsWith("--")) nodeArgs.push(word);
    else {
      const at = word.indexOf("=");
      if (at < 1) throw new Error(`HOST_AB_VARIANTS: neither NAME=value nor --option: ${word}`);
      const [name, value] = [word.slice(0, at), word.slice(at + 1)];
      env[name] = name === "NODE_OPTIONS" && env[name] ? `${env[name]} ${value}` : value;
    }
  }
  return { env, nodeArgs };
}
const variants = Object.fromEntries(
  Object.entries(JSON.parse(process.env.HOST_AB_VARIANTS ?? "{}")).map(([n, t]) => [
    n,
    parseVariant(t),
  ]),
);
// HOST_AB_AFTER=0: no plain "after" daemon, only "before" and the variants (fewer daemons at once).
const plain = process.env.HOST_AB_AFTER === "0" ? ["before"] : Object.keys(builds);
const names = [...plain, ...Object.keys(variants)];

/** How the daemon `name` is started: its unit's command, then a variant's own settings. */
function command(name) {
  const which = process.env.HOST_AB_UNIT_ENV;
  const build = name in builds ? name : "after";
  const withUnit = which === undefined || (which === "after" && build === "after");
  const unit = withUnit ? unitCommand(builds[build]) : { env: {}, nodeArgs: [] };
  const own = variants[name] ?? { env: {}, nodeArgs: [] };
  return {
    root: builds[build],
    env: { ...unit.env, ...own.env },
    nodeArgs: [...unit.nodeArgs, ...own.nodeArgs],
  };
}

// The heap sampler (HOST_AB_HEAP=1): one JSON line per sample, appended to heap-<pid>.jsonl.
const samplerFile = join(dir, "heap-sampler.cjs");
writeFileSync(
  samplerFile,
  `const { appendFileSync, readFileSync } = require("node:fs");
const v8 = require("node:v8");
const file = ${JSON.stringify(dir)} + "/heap-" + process.pid + ".jsonl";
const kib = (field, text) => Number(new RegExp(field + ":\\\\s+(\\\\d+)").exec(text)[1]) / 1024;
setInterval(() => {
  const status = readFileSync("/proc/self/status", "utf8");
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]));
  const heap = v8.getHeapStatistics();
  const mib = (bytes) => bytes / 2 ** 20;
  const sample = {
    t: Date.now(),
    anon: kib("RssAnon", status),
    committed: mib(heap.total_heap_size),
    used: mib(heap.used_heap_size),
    young: mib(spaces.new_space.space_size),
    old: mib(spaces.old_space.space_size),
    arrayBuffers: mib(process.memoryUsage().arrayBuffers),
  };
  appendFileSync(file, JSON.stringify(sample) + "\\n");
}, 250).unref();
`,
);

function start(name) {
  const { root, env: unitEnv, nodeArgs } = command(name);
  const env = { ...unitEnv };
  if (process.env.HOST_AB_HEAP === "1")
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --require=${samplerFile}`.trim();
  console.log(`${name.padEnd(8)} ${root}: ${unitCommandText({ env, nodeArgs })}`);
  const args = [
    ...nodeArgs,
    join(root, "dist/main.js"),
    `--path.procfs=${roots.procfs}`,
    `--path.sysfs=${roots.sysfs}`,
    `--path.rootfs=${roots.rootfs}`,
    "--web.listen-address=127.0.0.1:0",
    "--collect.rpc-timeout=200ms",
    "--web.disable-exporter-metrics",
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const match = /"port":(\d+)/.exec(buffered);
      if (match) resolve({ child, port: Number(match[1]), agent: new Agent({ keepAlive: true }) });
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}
const daemons = {};
for (const name of names) daemons[name] = await start(name);
/** One scrape: its time and size; `keep` also returns the body (the wait for the first cycle). */
const get = (d, keep = false) =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    request({ host: "127.0.0.1", port: d.port, path: "/metrics", agent: d.agent }, (res) => {
      let bytes = 0;
      const chunks = [];
      res.on("data", (chunk) => {
        bytes += chunk.length;
        if (keep) chunks.push(chunk);
      });
      res.on("end", () =>
        resolve({ ms: performance.now() - started, bytes, body: Buffer.concat(chunks) }),
      );
    })
      .on("error", reject)
      .end();
  });
const proc = (d, file) => readFileSync(`/proc/${d.child.pid}/${file}`, "utf8");
const status = (d, field) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(proc(d, "status"))[1]) / 1024;
const cpuMs = (d) => {
  const fields = proc(d, "stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
// Every first cycle done: each body names the last user, all bodies are within 2 % of one
// another's size, and none changed size by more than 0.5 % for 20 s (more than a 15 s interval).
// A body served while the first cycle runs has only the users done so far, and at 10,000 users
// the last (idle) user comes long before the live ones are done: runs that stopped at that
// (7 December, before this check) measured the first cycle. At most HOST_AB_WAIT_SECONDS (240).
const lastUser = Buffer.from(`user="${userNames.at(-1)}"`);
const waitUntil = Date.now() + Number(process.env.HOST_AB_WAIT_SECONDS ?? 240) * 1000;
let last = [];
let stableSince = Date.now();
while (Date.now() < waitUntil) {
  const bodies = [];
  for (const name of names) bodies.push(await get(daemons[name], true));
  const sizes = bodies.map((b) => b.bytes);
  const named = bodies.every((b) => b.body.includes(lastUser));
  const alike = Math.min(...sizes) >= 0.98 * Math.max(...sizes);
  const kept = sizes.every((size, i) => Math.abs(size - (last[i] ?? 0)) <= 0.005 * size);
  if (!named || !alike || !kept) stableSince = Date.now();
  else if (Date.now() - stableSince >= 20_000) break;
  last = sizes;
  await new Promise((r) => setTimeout(r, 2000));
}
if (Date.now() >= waitUntil) console.log("(the wait ended before every first cycle was done)");
const cpuBefore = Object.fromEntries(names.map((n) => [n, cpuMs(daemons[n])]));
const latencies = Object.fromEntries(names.map((n) => [n, []]));
const samples = Object.fromEntries(names.map((n) => [n, { rss: 0, anon: 0, count: 0, max: 0 }]));
const sampler = setInterval(() => {
  for (const name of names) {
    const rss = status(daemons[name], "VmRSS");
    samples[name].rss += rss;
    samples[name].max = Math.max(samples[name].max, rss);
    samples[name].anon += status(daemons[name], "RssAnon");
    samples[name].count += 1;
  }
}, 250);
// HOST_AB_PAUSE_MS (20) between rounds of scrapes (one per daemon); e.g. 15000 for Prometheus' pace.
const pauseMs = Number(process.env.HOST_AB_PAUSE_MS ?? 20);
const scrapedFrom = Date.now();
const deadline = scrapedFrom + Number(process.env.HOST_AB_SECONDS ?? 45) * 1000;
while (Date.now() < deadline) {
  for (const name of names) latencies[name].push((await get(daemons[name])).ms);
  await new Promise((r) => setTimeout(r, pauseMs));
}
clearInterval(sampler);
const scrapedTo = Date.now();
const figures = {};
for (const name of names) {
  const sorted = latencies[name].sort((a, b) => a - b);
  const d = daemons[name];
  const { rss, anon, count, max } = samples[name];
  figures[name] = {
    p99: sorted[Math.floor(sorted.length * 0.99)],
    peak: status(d, "VmHWM"),
    mean: rss / count,
    max,
    anon: anon / count,
    cpu: cpuMs(d) - cpuBefore[name],
  };
  const f = figures[name];
  console.log(
    `${name.padEnd(8)} peak RSS ${f.peak.toFixed(0)} MiB (while scraped ${f.max.toFixed(0)}), mean RSS ${f.mean.toFixed(0)} MiB (anonymous ${f.anon.toFixed(0)}), CPU ${f.cpu} ms, scrape p99 ${f.p99.toFixed(2)} ms (${sorted.length} scrapes)`,
  );
}
/** Resident KiB by mapping (file path, or the kind of anonymous mapping), biggest first. */
function residentByMapping(d) {
  const sums = new Map();
  let current = "";
  for (const line of proc(d, "smaps").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) current = `${head[2] || "[anonymous]"} ${head[1]}`;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) sums.set(current, (sums.get(current) ?? 0) + Number(rss[1]));
  }
  return [...sums].sort((a, b) => b[1] - a[1]);
}
/** Means of the heap sampler's figures between `from` and `to` (ms since the epoch). */
function heapMeans(d, from, to) {
  const lines = readFileSync(join(dir, `heap-${d.child.pid}.jsonl`), "utf8")
    .trim()
    .split("\n");
  const samples = lines.map((line) => JSON.parse(line)).filter((s) => s.t >= from && s.t <= to);
  const mean = (key) => samples.reduce((sum, s) => sum + s[key], 0) / samples.length;
  const rest = samples.reduce((sum, s) => sum + s.anon - s.committed - s.arrayBuffers, 0);
  return {
    ...Object.fromEntries(
      ["committed", "used", "young", "old", "arrayBuffers"].map((k) => [k, mean(k)]),
    ),
    rest: rest / samples.length,
  };
}
if (process.env.HOST_AB_HEAP === "1")
  for (const name of names) {
    const m = heapMeans(daemons[name], scrapedFrom, scrapedTo);
    console.log(
      `${name.padEnd(8)} means while scraped: heap committed ${m.committed.toFixed(1)} MiB (young ${m.young.toFixed(1)}, old ${m.old.toFixed(1)}), used ${m.used.toFixed(1)}; array buffers ${m.arrayBuffers.toFixed(1)}; the rest of the anonymous RSS ${m.rest.toFixed(1)}`,
    );
  }
if (process.env.HOST_AB_SMAPS === "1")
  for (const name of names) {
    const top = residentByMapping(daemons[name]).slice(0, 8);
    console.log(
      `${name} resident by mapping: ${top.map(([m, kib]) => `${m} ${(kib / 1024).toFixed(1)} MiB`).join("; ")}`,
    );
  }
for (const name of names.slice(1)) {
  const ratio = (key) => (figures[name][key] / figures.before[key]).toFixed(2);
  console.log(
    `${name}/before: peak RSS ${ratio("peak")}x (while scraped ${ratio("max")}x), mean RSS ${ratio("mean")}x (anonymous ${ratio("anon")}x), CPU ${ratio("cpu")}x, p99 ${ratio("p99")}x`,
  );
}
await Promise.all(
  names.map((name) => {
    const { child, agent } = daemons[name];
    child.removeAllListeners("exit");
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    agent.destroy();
    return exited;
  }),
);
rmSync(dir, { recursive: true, force: true });
