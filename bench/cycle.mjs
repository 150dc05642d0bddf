// CPU cost of one full collection cycle (every collector once, concurrently, as the scheduler runs
// them), on the host it runs on. Run it as the user whose rootless Docker is watched, beside it:
//   npm run build && node bench/cycle.mjs [cycles] [--against DIR]
// Cycles are 1.1 s apart, as real ticks are, so no cycle reuses the previous one's discovery.
// --against DIR runs, alternately in the same process, the collectors of another built checkout
// (e.g. `git worktree add DIR main`, then build there) and prints both and their ratio: this
// machine's noise moves single figures by 20 %, ratios within one run much less. The other
// checkout must have the same Watch API (src/exporter/watch.ts, from host mode on).
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const againstAt = args.indexOf("--against");
const against = againstAt >= 0 ? resolve(args.splice(againstAt, 2)[1] ?? "") : undefined;
const cycles = Number(args[0] ?? 20);
const here = join(dirname(fileURLToPath(import.meta.url)), "..");

async function load(checkout) {
  const dist = (path) => import(join(checkout, "dist", path));
  const [{ parseCommandLine }, { collectorList, collectors }, { Watch }, { pino }] =
    await Promise.all([
      dist("cli.js"),
      dist("collectors/registry.js"),
      dist("exporter/schedule/watch.js"),
      import("pino"),
    ]);
  const log = pino({ level: "silent" });
  // What the daemon runs: a Watch of the invoking user with the default collectors (the probe is
  // off by default, with its own bench), cycled by hand instead of by node-cron.
  const watchOf = async (flags) => {
    const command = parseCommandLine(flags, process.env, collectorList);
    return Watch.create({
      config: command.config,
      collectors,
      env: process.env,
      log,
      trigger: () => ({ stop() {} }),
    });
  };
  const watch = await watchOf([]);
  const enabled = collectorList.filter((c) => c.defaultEnabled);
  await watch.scheduler.runAll();
  return {
    checkout,
    target: watch.scheduler.targets()[0] ?? { name: "?" },
    collectors: enabled,
    cycle: () => watch.scheduler.runAll(),
    alone: async (collector) => {
      const one = await watchOf(["--collector.disable-defaults", `--collector.${collector.name}`]);
      await one.scheduler.runAll(); // its own warm-up, then the measured run
      const before = process.cpuUsage();
      await one.scheduler.runAll();
      const used = process.cpuUsage(before);
      await one.stop();
      return used;
    },
    stop: () => watch.stop(),
  };
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 1100));
const cpuMs = (used) => (used.user + used.system) / 1000;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const subjects = [await load(here), ...(against ? [await load(against)] : [])];
for (const subject of subjects) await subject.cycle(); // warm-up: JIT, connections, caches
const totals = subjects.map(() => []);
for (let i = 0; i < cycles; i++) {
  // Alternate which goes first, so neither always runs right after the other.
  const order = i % 2 === 0 ? subjects.keys() : [...subjects.keys()].reverse();
  for (const s of order) {
    await pause();
    const before = process.cpuUsage();
    await subjects[s].cycle();
    totals[s].push(cpuMs(process.cpuUsage(before)));
  }
}

console.log(
  `user ${subjects[0].target.name}: ${cycles} cycles of ${subjects[0].collectors.length} collectors`,
);
subjects.forEach((subject, s) => {
  // The second half shows the steady state, once the JIT has compiled the hot paths.
  const late = totals[s].slice(Math.floor(totals[s].length / 2));
  const mean = totals[s].reduce((a, b) => a + b, 0) / totals[s].length;
  console.log(subject.checkout);
  console.log(`  CPU per cycle, second half only: median ${median(late).toFixed(2)} ms`);
  console.log(
    `  CPU per cycle: mean ${mean.toFixed(2)} ms, median ${median(totals[s]).toFixed(2)} ms, max ${Math.max(...totals[s]).toFixed(2)} ms`,
  );
});
if (against) {
  const ratio = median(totals[0].slice(cycles / 2)) / median(totals[1].slice(cycles / 2));
  console.log(`ratio this/against (second-half medians): ${ratio.toFixed(2)}x`);
} else {
  await pause();
  for (const collector of subjects[0].collectors) {
    const used = await subjects[0].alone(collector);
    console.log(`  ${collector.name.padEnd(12)} ${cpuMs(used).toFixed(2)} ms CPU (one run, alone)`);
  }
}
for (const subject of subjects) await subject.stop();
