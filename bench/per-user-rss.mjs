// The per-user daemon's own memory, variant by variant, side by side: each variant is started on
// the `healthy` fixture (5 s interval), read from /proc/PID/status once its first collection is
// done ("start"), then scraped 200 times one after the other and read again once a scheduled cycle
// (node-cron's first tick) has run too ("scraped"). Variants alternate, so the machine's drift hits
// all of them; the median of the runs is printed, with the CPU the process used (utime + stime).
//   npm run build && node bench/per-user-rss.mjs [runs] [variant...] [--against DIR] [--cpu S]
// --against DIR adds the variant "against": the same daemon from another built checkout.
// --idle S reads it a third time, S seconds after its start, unscraped since: V8's memory reducer
// shrinks an idle heap ~10-20 s after start, which the first two readings precede.
// --cpu S measures CPU per cycle instead: each variant at a 1 s interval, unscraped, the CPU
// (utime + stime) it used over S seconds after 3 s of warm-up, divided by S.
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { cpuMs, healthyFixture, onFixture, startProcess, statusOf, stop } from "./daemon.mjs";

const args = process.argv.slice(2);
const againstAt = args.indexOf("--against");
const against = againstAt >= 0 ? resolve(args.splice(againstAt, 2)[1] ?? "") : undefined;
const cpuAt = args.indexOf("--cpu");
const cpuSeconds = cpuAt >= 0 ? Number(args.splice(cpuAt, 2)[1]) : undefined;
const idleAt = args.indexOf("--idle");
const idleSeconds = idleAt >= 0 ? Number(args.splice(idleAt, 2)[1]) : undefined;
const runs = Number(args.shift() ?? 3);
const here = fileURLToPath(new URL("..", import.meta.url));

/** name → how it differs from the plain daemon of this checkout. */
const known = {
  plain: {},
  against: { root: against },
  "no-exporter-metrics": { args: ["--web.disable-exporter-metrics"] },
  "against-no-exporter-metrics": { root: against, args: ["--web.disable-exporter-metrics"] },
  "lite-mode": { node: ["--lite-mode"] },
  "no-opt": { node: ["--no-opt"] },
  "max-opt-2": { node: ["--max-opt=2"] },
  "optimize-for-size": { node: ["--optimize-for-size"] },
  "semi-space-1": { node: ["--max-semi-space-size=1"] },
  "malloc-arenas-2": { env: { MALLOC_ARENA_MAX: "2" } },
  "threadpool-1": { env: { UV_THREADPOOL_SIZE: "1" } },
  "single-threaded": { node: ["--single-threaded"] },
  "v8-pool-1": { node: ["--v8-pool-size=1"] },
  "arenas+pool": { node: ["--v8-pool-size=1"], env: { MALLOC_ARENA_MAX: "2" } },
  "lite+semi-1": { node: ["--lite-mode", "--max-semi-space-size=1"] },
  "no-opt+semi-1": { node: ["--no-opt", "--max-semi-space-size=1"] },
  all: {
    node: ["--lite-mode", "--max-semi-space-size=1", "--v8-pool-size=1"],
    env: { MALLOC_ARENA_MAX: "2", UV_THREADPOOL_SIZE: "1" },
    args: ["--web.disable-exporter-metrics"],
  },
};
const names = args.length > 0 ? args : ["plain", ...(against ? ["against"] : [])];
for (const name of names) if (!(name in known)) throw new Error(`unknown variant ${name}`);

const fixture = healthyFixture(here, "per-user-rss-");

function status(pid) {
  const field = statusOf(pid);
  return { rss: field("VmRSS"), anon: field("RssAnon"), file: field("RssFile"), cpuMs: cpuMs(pid) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(variant) {
  const root = variant.root ?? here;
  const startedAt = performance.now();
  const { child, port } = await startProcess(
    [
      ...(variant.node ?? []),
      ...onFixture(root, fixture),
      `--collect.interval=${cpuSeconds ? 1 : 5}s`,
      ...(variant.args ?? []),
    ],
    variant.env,
  );
  try {
    if (cpuSeconds) {
      await sleep(3000);
      const before = status(child.pid);
      await sleep(cpuSeconds * 1000);
      const after = status(child.pid);
      return { cpuPerCycle: (after.cpuMs - before.cpuMs) / cpuSeconds, rss: after.rss };
    }
    await sleep(1500);
    const start = status(child.pid);
    for (let i = 0; i < 200; i++) await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // Past the first scheduled tick (5 s), and a second for the rendering after it.
    await sleep(Math.max(1000, 7000 - (performance.now() - startedAt)));
    const scraped = status(child.pid);
    if (!idleSeconds) return { start, scraped };
    await sleep(Math.max(0, idleSeconds * 1000 - (performance.now() - startedAt)));
    return { start, scraped, idle: status(child.pid) };
  } finally {
    await stop(child);
  }
}

const results = Object.fromEntries(names.map((n) => [n, []]));
try {
  for (let run = 0; run < runs; run++) {
    for (const name of names) results[name].push(await measure(known[name]));
  }
} finally {
  rmSync(fixture, { recursive: true, force: true });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
if (cpuSeconds) {
  console.log(`per-user daemon, healthy fixture, 1 s cycles over ${cpuSeconds} s; ${runs} runs`);
  for (const name of names) {
    const per = results[name].map((r) => r.cpuPerCycle);
    console.log(
      `${name.padEnd(29)}CPU per cycle median ${median(per).toFixed(1)} ms (runs: ${per.map((x) => x.toFixed(1)).join(", ")}), RSS ${median(results[name].map((r) => r.rss)).toFixed(1)} MiB`,
    );
  }
  process.exit(0);
}
console.log(`per-user daemon, healthy fixture; median of ${runs}; MiB; node ${process.version}`);
console.log(`${"variant".padEnd(29)}start: rss  anon  file   scraped: rss  anon  file   cpu ms`);
for (const name of names) {
  const rows = results[name];
  const at = (when, key) =>
    median(rows.map((r) => r[when][key]))
      .toFixed(1)
      .padStart(6);
  console.log(
    `${name.padEnd(29)}${at("start", "rss")}${at("start", "anon")}${at("start", "file")}        ${at("scraped", "rss")}${at("scraped", "anon")}${at("scraped", "file")}  ${at("scraped", "cpuMs")}${idleSeconds ? `   idle at ${idleSeconds} s: ${at("idle", "rss")}${at("idle", "anon")}${at("idle", "file")}` : ""}`,
  );
}
