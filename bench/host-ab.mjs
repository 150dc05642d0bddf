// Two builds' host-mode daemons side by side on the same generated host, scraped alternately:
// peak RSS, CPU and scrape p99 of each, and their ratios (same moments of a noisy machine for
// both). As root, after `npm run build` here and in the other checkout:
//   node bench/host-ab.mjs <other built checkout> [users] [live]
// HOST_AB_SECONDS (45) of scrapes once both bodies are complete (at most 240 s of waiting).
// Each daemon gets its own checkout's system-unit environment (deploy/systemd's Environment=
// lines); HOST_AB_UNIT_ENV=after gives it to the "after" daemon only (the same build twice: what
// the environment changes), =none to neither.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateHost, unitEnvironment } from "./host-fixture.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const [other, users = 1000, live = 100] = process.argv.slice(2);
if (!other || process.getuid?.() !== 0) {
  console.error("usage (as root): node bench/host-ab.mjs <other built checkout> [users] [live]");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-host-ab-"));
const { roots } = generateHost(dir, Number(users), Number(live));
const builds = { before: other, after: here };
const names = Object.keys(builds);

function start(root, name) {
  const args = [
    join(root, "dist/main.js"),
    `--path.procfs=${roots.procfs}`,
    `--path.sysfs=${roots.sysfs}`,
    `--path.rootfs=${roots.rootfs}`,
    "--web.listen-address=127.0.0.1:0",
    "--collect.rpc-timeout=200ms",
    "--web.disable-exporter-metrics",
  ];
  const which = process.env.HOST_AB_UNIT_ENV;
  const withEnv = which === undefined || (which === "after" && name === "after");
  const env = { ...process.env, ...(withEnv ? unitEnvironment(root) : {}) };
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env });
  return new Promise((resolve) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const match = /"port":(\d+)/.exec(buffered);
      if (match) resolve({ child, port: Number(match[1]), agent: new Agent({ keepAlive: true }) });
    });
  });
}
const daemons = {};
for (const name of names) daemons[name] = await start(builds[name], name);
const get = (d) =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    request({ host: "127.0.0.1", port: d.port, path: "/metrics", agent: d.agent }, (res) => {
      let bytes = 0;
      res.on("data", (chunk) => (bytes += chunk.length));
      res.on("end", () => resolve({ ms: performance.now() - started, bytes }));
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
// Both first cycles done: each body as big as the other's, twice in a row, or 240 s.
const waitUntil = Date.now() + 240_000;
let last = [];
while (Date.now() < waitUntil) {
  const sizes = [];
  for (const name of names) sizes.push((await get(daemons[name])).bytes);
  if (sizes[0] > 1000 && sizes.join() === last.join()) break;
  last = sizes;
  await new Promise((r) => setTimeout(r, 2000));
}
const cpuBefore = Object.fromEntries(names.map((n) => [n, cpuMs(daemons[n])]));
const latencies = Object.fromEntries(names.map((n) => [n, []]));
const deadline = Date.now() + Number(process.env.HOST_AB_SECONDS ?? 45) * 1000;
while (Date.now() < deadline) {
  for (const name of names) latencies[name].push((await get(daemons[name])).ms);
  await new Promise((r) => setTimeout(r, 20));
}
const figures = {};
for (const name of names) {
  const sorted = latencies[name].sort((a, b) => a - b);
  const d = daemons[name];
  figures[name] = {
    p99: sorted[Math.floor(sorted.length * 0.99)],
    peak: status(d, "VmHWM"),
    cpu: cpuMs(d) - cpuBefore[name],
  };
  console.log(
    `${name.padEnd(7)} peak RSS ${figures[name].peak.toFixed(0)} MiB, CPU ${figures[name].cpu} ms, scrape p99 ${figures[name].p99.toFixed(2)} ms (${sorted.length} scrapes)`,
  );
}
const ratio = (key) => (figures.after[key] / figures.before[key]).toFixed(2);
console.log(`after/before: peak RSS ${ratio("peak")}x, CPU ${ratio("cpu")}x, p99 ${ratio("p99")}x`);
for (const name of names) {
  daemons[name].child.kill("SIGTERM");
  daemons[name].agent.destroy();
}
rmSync(dir, { recursive: true, force: true });
