// CPU cost of one full collection cycle (every collector once, concurrently, as the scheduler runs
// them), on the host it runs on. Run it as the user whose rootless Docker is watched, beside it:
//   npm run build && node bench/cycle.mjs [cycles]
// Cycles are 1.1 s apart, as real ticks are, so no cycle reuses the previous one's discovery.
import { collectors as all } from "../dist/collectors/registry.js";
import { readGroups, readPasswd } from "../dist/host/accounts.js";
import { resolveTarget } from "../dist/host/target.js";

const cycles = Number(process.argv[2] ?? 20);
// The collectors a default configuration runs (the probe is off by default and has its own bench).
const collectors = all.filter((c) => c.defaultEnabled);
const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };
const target = resolveTarget(
  undefined,
  await readPasswd(roots),
  await readGroups(roots),
  process.env,
);
const pause = () => new Promise((resolve) => setTimeout(resolve, 1100));

const context = (collector) => ({
  roots,
  target,
  signal: new AbortController().signal,
  note: () => undefined,
  env: process.env,
  rpcTimeoutMs: 2000,
  option: (name) => collector.options?.find((o) => o.name === name)?.defaultValue ?? "",
});

const cpuMs = (used) => (used.user + used.system) / 1000;
await Promise.all(collectors.map((c) => c.collect(context(c)))); // warm-up: JIT, connections
const totals = [];
for (let i = 0; i < cycles; i++) {
  await pause();
  const before = process.cpuUsage();
  await Promise.all(collectors.map((c) => c.collect(context(c))));
  totals.push(cpuMs(process.cpuUsage(before)));
}
// The second half shows the steady state, once the JIT has compiled the hot paths.
const late = totals.slice(Math.floor(totals.length / 2)).sort((a, b) => a - b);
totals.sort((a, b) => a - b);
const mean = totals.reduce((a, b) => a + b, 0) / totals.length;
console.log(`user ${target.name}: ${cycles} cycles of ${collectors.length} collectors`);
console.log(
  `CPU per cycle, second half only: median ${late[Math.floor(late.length / 2)].toFixed(2)} ms`,
);
console.log(
  `CPU per cycle: mean ${mean.toFixed(2)} ms, median ${totals[Math.floor(totals.length / 2)].toFixed(2)} ms, max ${totals.at(-1).toFixed(2)} ms`,
);
await pause();
for (const collector of collectors) {
  const before = process.cpuUsage();
  await collector.collect(context(collector));
  console.log(
    `  ${collector.name.padEnd(12)} ${cpuMs(process.cpuUsage(before)).toFixed(2)} ms CPU (one run, alone)`,
  );
}
for (const collector of collectors) collector.stop?.();
