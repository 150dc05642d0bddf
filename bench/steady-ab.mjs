// Steady host-mode cycles of several builds side by side in one process, on one fixture: each
// build's Watch makes two cycles, then `rounds` rounds in which every build makes one cycle, the
// order rotated each round (the machine's load drifts; a pair in one round sees the same load).
// Prints each build's cycles' CPU (process.cpuUsage, user + system) and the median ratio of each
// build to the first, round by round. Needs root (the fixture's procfs owners) and each build's
// `npm run build`. node --expose-gc bench/steady-ab.mjs users live rounds DIR...
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadBuild, steadyWatch } from "./host-watch.mjs";

const [users = "1000", live = "100", rounds = "9", ...dirs] = process.argv.slice(2);
const roots = dirs.map((d) => resolve(d));
if (roots.length === 0) throw new Error("usage: steady-ab.mjs users live rounds DIR...");
const { generateHost } = await import(join(roots[0], "bench/host-fixture.mjs"));
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-steady-ab-"));
const { roots: hostRoots } = generateHost(dir, Number(users), Number(live));
await new Promise((r) => setTimeout(r, 2500));
const watches = [];
for (const root of roots) watches.push(await steadyWatch(await loadBuild(root), hostRoots));
const cpu = roots.map(() => []);
for (let round = 0; round < Number(rounds); round++) {
  for (let k = 0; k < roots.length; k++) {
    const i = (k + round) % roots.length;
    globalThis.gc?.();
    const before = process.cpuUsage();
    await watches[i].scheduler.runAll();
    const used = process.cpuUsage(before);
    cpu[i].push((used.user + used.system) / 1000);
  }
}
for (const watch of watches) await watch.stop();
rmSync(dir, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (let i = 0; i < roots.length; i++) {
  const ratios = cpu[i].map((ms, r) => ms / cpu[0][r]);
  console.log(
    JSON.stringify({
      build: roots[i],
      users,
      live,
      cpuMs: cpu[i].map((ms) => Number(ms.toFixed(1))),
      medianMs: Number(median(cpu[i]).toFixed(1)),
      medianRatio: Number(median(ratios).toFixed(3)),
    }),
  );
}
