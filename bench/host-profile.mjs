// CPU of host-mode cycles on bench/host-mode.mjs's fixture, one collector alone or all of them,
// and optionally a profile (node:inspector's sampler, 200 µs): what performance.md's "Live users"
// tables are made with. Needs root (the fixture's procfs owners are chowned); `npm run build`.
// node --expose-gc bench/host-profile.mjs [checkout=.] [users=1000] [live=100] [collector|all] [profile=0] ["--more flags"]
// Prints {"only","users","live","cpuMs","userMs","sysMs"}: the median of three cycles after two,
// 2.5 s after the fixture was written (the reuse keys' racy guard); with profile=1 it writes
// host-profile-<collector>-<users>-<live>.cpuprofile in the working directory.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadBuild, steadyWatch } from "./host-watch.mjs";

const args = process.argv.slice(2);
const root = resolve(args[0] ?? fileURLToPath(new URL("..", import.meta.url)));
const [users = "1000", live = "100", only = "all", profile = "0", more = ""] = args.slice(1);
const { generateHost } = await import(join(root, "bench/host-fixture.mjs"));
const build = await loadBuild(root);
const { collectorList } = build;
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-host-profile-"));
const { roots } = generateHost(dir, Number(users), Number(live));
await new Promise((resolve) => setTimeout(resolve, 2500));
const others = collectorList.map((c) => c.name).filter((n) => n !== only && n !== "probe");
const watch = await steadyWatch(build, roots, [
  ...(only === "all" ? [] : others.map((n) => `--no-collector.${n}`)),
  ...(more ? more.split(" ") : []),
]);
globalThis.gc?.();
let session;
if (profile === "1") {
  session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 200 });
  await session.post("Profiler.start");
}
const cpu = [];
for (let i = 0; i < 3; i++) {
  const before = process.cpuUsage();
  await watch.scheduler.runAll();
  const used = process.cpuUsage(before);
  cpu.push([(used.user + used.system) / 1000, used.user / 1000, used.system / 1000]);
}
if (session) {
  const { profile: taken } = await session.post("Profiler.stop");
  writeFileSync(`host-profile-${only}-${users}-${live}.cpuprofile`, JSON.stringify(taken));
}
await watch.stop();
rmSync(dir, { recursive: true, force: true });
const [cpuMs, userMs, sysMs] = cpu.sort((a, b) => a[0] - b[0])[1].map((v) => Number(v.toFixed(1)));
console.log(JSON.stringify({ only, users, live, more, cpuMs, userMs, sysMs }));
