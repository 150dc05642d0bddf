// When a daemon's RSS peaked, and of what: reads the rss-<pid>.jsonl files bench/rss-sampler.mjs
// wrote (one per daemon) and prints, per file: the peak sample with its parts (anonymous, file
// pages, ICU data, V8's spaces, array buffers, the rest of the anonymous: malloc and stacks), which
// cycle it fell in (cycles fire at the clock's multiples of the interval; cycle 0 is the first,
// run at start), each figure's maximum and when, and each cycle's highest RSS.
//   node bench/rss-when.mjs <dir> [interval seconds = 15] [--series]
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const [dir, intervalArg = "15", ...rest] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node bench/rss-when.mjs <RSS_SAMPLER_DIR> [interval seconds] [--series]");
  process.exit(2);
}
const intervalMs = Number(intervalArg) * 1000;
const series = rest.includes("--series");
const fixed = (v, d = 1) => (v === null || v === undefined ? "-" : v.toFixed(d));

for (const name of readdirSync(dir).filter((f) => /^rss-\d+\.jsonl$/.test(f))) {
  const samples = readFileSync(join(dir, name), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  if (samples.length === 0) continue;
  const startedAt = samples[0].t - samples[0].up * 1000;
  const firstTick = Math.ceil(startedAt / intervalMs) * intervalMs;
  const cycleOf = (s) => (s.t < firstTick ? 0 : 1 + Math.floor((s.t - firstTick) / intervalMs));
  const intoCycle = (s) => (s.t < firstTick ? s.up : ((s.t - firstTick) % intervalMs) / 1000);
  const heap = (s) => s.young + s.old + s.code + s.lo;
  const restOf = (s) => s.anon - heap(s) - s.ab;
  const describe = (s) =>
    `${fixed(s.up)} s (cycle ${cycleOf(s)}, +${fixed(intoCycle(s))} s): RSS ${fixed(s.rss)} = file ${fixed(s.file)} (ICU ${fixed(s.icu)}) + anon ${fixed(s.anon)} [heap committed ${fixed(heap(s))}: young ${fixed(s.young)}, old ${fixed(s.old)}, code ${fixed(s.code)}, large ${fixed(s.lo)}; used ${fixed(s.used)}; array buffers ${fixed(s.ab)}; rest ${fixed(restOf(s))}]${s.brk === undefined ? "" : ` {malloc: brk ${fixed(s.brk)}, arenas ${fixed(s.arenas)}; stacks ${fixed(s.stacks)}; other anonymous ${fixed(s.other)}}`}`;
  const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  console.log(
    `${name}: ${samples.length} samples over ${fixed(samples.at(-1).up)} s; the first tick ${fixed((firstTick - startedAt) / 1000)} s after start`,
  );
  console.log(`  peak ${describe(peak)}`);
  // VmHWM counts a spike between two samples too: where it rose to its last value.
  const hwm = samples.at(-1).hwm;
  if (hwm !== undefined) {
    const at = samples.findIndex((s) => s.hwm >= hwm);
    const before = samples[at - 1];
    console.log(
      `  VmHWM ${fixed(hwm)} MiB, reached between ${before ? fixed(before.up) : "start"} and ${fixed(samples[at].up)} s (cycle ${cycleOf(samples[at])}); sampled RSS there ${before ? fixed(before.rss) : "-"} and ${fixed(samples[at].rss)}`,
    );
  }
  const max = (key, get = (s) => s[key]) => {
    const top = samples.reduce((a, b) => ((get(b) ?? 0) > (get(a) ?? 0) ? b : a));
    return `${key} ${fixed(get(top))} at ${fixed(top.up)} s (cycle ${cycleOf(top)})`;
  };
  console.log(
    `  most: ${[
      max("anon"),
      max("file"),
      max("icu"),
      max("heap", heap),
      max("old"),
      max("used"),
      max("ab"),
      max("rest", restOf),
    ].join("; ")}`,
  );
  const cycles = new Map();
  for (const s of samples) {
    const c = cycleOf(s);
    const now = cycles.get(c) ?? { top: s, cpu: 0, slow: 0, major: 0 };
    if (s.rss > now.top.rss) now.top = s;
    now.cpu += s.cpu;
    now.slow += s.slow;
    now.major += s.major;
    cycles.set(c, now);
  }
  for (const [c, { top, cpu, slow, major }] of cycles)
    console.log(
      `  cycle ${c}: CPU ${cpu} ms, allocUnsafeSlow ${fixed(slow)} MiB, major GCs ${major}; highest ${describe(top)}`,
    );
  if (series)
    for (const s of samples)
      console.log(
        `    ${fixed(s.up)} c${cycleOf(s)} cpu ${s.cpu} rss ${fixed(s.rss)} file ${fixed(s.file)} icu ${fixed(s.icu)} anon ${fixed(s.anon)} young ${fixed(s.young)} old ${fixed(s.old)} used ${fixed(s.used)} ab ${fixed(s.ab)} rest ${fixed(restOf(s))} slow ${fixed(s.slow)} M${s.major} m${s.minor}${s.brk === undefined ? "" : ` brk ${fixed(s.brk)} arenas ${fixed(s.arenas)} stacks ${fixed(s.stacks)} other ${fixed(s.other)}`}`,
      );
}
