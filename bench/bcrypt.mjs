// Side by side: the bcrypt libraries the web config could use, on the work the exporter does
// (compare one password against a $2y$ cost-10 hash, as `htpasswd -nBC 10` writes). For each: the
// time of one compare, and how long the event loop stalls during it (what a scrape waiting
// behind a login pays). Run: npm i --no-save bcrypt@6.0.0 @node-rs/bcrypt@1.10.8 && node bench/bcrypt.mjs
import { monitorEventLoopDelay, performance } from "node:perf_hooks";

const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const password = "correct horse battery staple";

const candidates = [
  ["bcryptjs (pure JS)", "bcryptjs", (m) => m.default ?? m],
  ["bcrypt (native, node-addon-api)", "bcrypt", (m) => m.default ?? m],
  ["@node-rs/bcrypt (native, Rust)", "@node-rs/bcrypt", (m) => m],
];

async function measure(label, lib) {
  const native = await lib.hash(password, 10);
  // htpasswd writes $2y$; the same algorithm as $2b$, but not every library takes the prefix.
  const y = native.replace(/^\$2[ab]\$/, "$2y$");
  const takesY = await lib.compare(password, y).catch(() => false);
  const hash = takesY ? y : native.replace(/^\$2y\$/, "$2b$");
  const times = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // A 1 ms timer keeps the loop busy so a stall shows up in the histogram.
  const ticker = setInterval(() => {}, 1);
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const ok = await lib.compare(i % 2 ? password : "wrong", hash);
    times.push(performance.now() - start);
    if (ok !== (i % 2 === 1)) throw new Error(`${label}: wrong answer`);
  }
  clearInterval(ticker);
  delay.disable();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const stall = delay.max / 1e6;
  console.log(
    `${label.padEnd(34)} compare median ${median.toFixed(1)} ms, p100 ${times.at(-1).toFixed(1)} ms; event loop stalled up to ${stall.toFixed(1)} ms; takes $2y$: ${takesY ? "yes" : "no"}`,
  );
}

console.log(`node ${process.version}, ${rounds} compares each, cost 10`);
for (const [label, name, pick] of candidates) {
  let lib;
  try {
    lib = pick(await import(name));
  } catch {
    console.log(`${label.padEnd(34)} not installed (npm i --no-save ${name})`);
    continue;
  }
  await measure(label, lib);
}
