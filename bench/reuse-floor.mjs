// The cost of a reused run, the scheduler's floor (issue 19): 1,000 users, nine user collectors
// whose key never changes (a memo of the cycle) and whose facts are a small object, so every run
// after the first two is a reuse: what is left is the scheduler's own work a run (its context,
// timer, promise chain, key digest, ledger record). No OS work, no root needed.
// Run after `npm run build`: node bench/reuse-floor.mjs [a built checkout, this one by default]
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";

const root = process.argv[2] ?? fileURLToPath(new URL("..", import.meta.url));
const { Scheduler } = await import(join(root, "dist/exporter/schedule/scheduler.js"));
const { HostState } = await import(join(root, "dist/collectors/state.js"));
const users = Array.from({ length: 1000 }, (_, i) => ({
  name: `u${i}`,
  uid: 5000 + i,
  gid: 5000 + i,
  groups: [],
  home: `/home/u${i}`,
  runtimeDir: `/run/user/${5000 + i}`,
}));
const collector = (name) => ({
  name,
  description: name,
  scope: "user",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  inputs: async (ctx) =>
    ctx.cycle.once(`key\0${ctx.target.uid}`, async () => `key ${ctx.target.uid}`),
  collect: async (ctx) => ({ uid: ctx.target.uid, name }),
});
const collectors = Object.fromEntries(
  Array.from({ length: 9 }, (_, i) => [`c${i}`, collector(`c${i}`)]),
);
const scheduler = new Scheduler({
  collectors,
  settings: Object.keys(collectors).map((name) => ({ name, enabled: true, intervalSeconds: 15 })),
  roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
  targets: { wants: () => true, resolve: async () => users },
  host: new HostState(),
  timeoutMs: 5000,
  rpcTimeoutMs: 200,
  collectorOptions: {},
  env: {},
  log: pino({ level: "silent" }),
  trigger: () => ({ stop() {} }),
});
for (let i = 0; i < 5; i++) await scheduler.runAll();
const cpu = [];
for (let i = 0; i < 7; i++) {
  const before = process.cpuUsage();
  await scheduler.runAll();
  const used = process.cpuUsage(before);
  cpu.push((used.user + used.system) / 1000);
}
await scheduler.stop();
const median = [...cpu].sort((a, b) => a - b)[3];
console.log(
  `${root}: 9,000 reused runs a cycle, median ${median.toFixed(1)} ms CPU: ${((median * 1000) / 9000).toFixed(2)} µs a reused run`,
);
