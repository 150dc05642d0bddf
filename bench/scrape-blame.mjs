// What the slow scrapes of a host-mode daemon wait for (issue 19). On the generated host of
// bench/host-mode.mjs, a daemon (with bench/scrape-blame-preload.mjs: its GC pauses and
// event-loop blocks) and a bare Node server answering the same number of bytes are scraped
// alternately; each scrape's start and end are kept. Then, for the slowest 2 % of each server's
// scrapes, what overlapped them: the daemon's major and minor GC pauses, its loop blocks (over
// 4 ms), the bench client's own GC pauses. As root, after `npm run build`:
//   node bench/scrape-blame.mjs [users=10000] [live=users/10]
// BLAME_ROOTS=name=<built checkout>,name=<...> runs those builds' daemons side by side on the
// same host (this checkout alone by default), each scrape of one followed by one of the next and
// of the bare server, so all see the same moments of the machine; BLAME_SECONDS (40) of scrapes
// once every first cycle is done; BLAME_INTERVAL (15s) is the daemons' interval.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cpuMs,
  now,
  recordGcs,
  scrape,
  startBare,
  startProcess,
  statusOf,
  stop,
} from "./daemon.mjs";
import { generateHost } from "./host-fixture.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const roots_ = (process.env.BLAME_ROOTS ?? `this=${join(here, "..")}`)
  .split(",")
  .map((pair) => pair.split("="));
const users = Number(process.argv[2] ?? 10000);
const live = Number(process.argv[3] ?? Math.round(users / 10));
const seconds = Number(process.env.BLAME_SECONDS ?? 40);
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-blame-"));
const { roots } = generateHost(dir, users, live);
const clientGcs = recordGcs();
const daemons = [];
for (const [name, root] of roots_) {
  const out = join(dir, `${name}.json`);
  const d = await startProcess(
    [
      "--import",
      join(here, "scrape-blame-preload.mjs"),
      join(root, "dist/main.js"),
      `--path.procfs=${roots.procfs}`,
      `--path.sysfs=${roots.sysfs}`,
      `--path.rootfs=${roots.rootfs}`,
      "--web.listen-address=127.0.0.1:0",
      `--collect.interval=${process.env.BLAME_INTERVAL ?? "15s"}`,
      "--collect.rpc-timeout=200ms",
      "--web.disable-exporter-metrics",
    ],
    { BLAME_OUT: out },
  );
  daemons.push({ ...d, name, out });
}
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port) => scrape(agent, port);
// Every first cycle done: each body stops growing (twice the same size, 2 s apart), or 300 s.
const waitUntil = Date.now() + 300_000;
for (const d of daemons) {
  d.size = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    const { bytes } = await get(d.port);
    if ((bytes > 10_000 && bytes === d.size) || Date.now() > waitUntil) break;
    d.size = bytes;
  }
}
const size = daemons[0].size;
const bare = { ...(await startBare(dir, size)), name: "bare" };
const servers = [...daemons, bare];
const cpu = (d) => cpuMs(d.child.pid);
for (const d of servers) {
  d.scrapes = [];
  d.cpu = cpu(d);
}
const from = now();
while (now() < from + seconds * 1000) for (const d of servers) d.scrapes.push(await get(d.port));
for (const d of daemons) {
  d.cpu = cpu(d) - d.cpu;
  d.peak = statusOf(d.child.pid)("VmHWM");
  await stop(d.child);
  Object.assign(d, JSON.parse(readFileSync(d.out, "utf8")));
}
bare.child.kill("SIGTERM");
agent.destroy();
rmSync(dir, { recursive: true, force: true });

const overlap = (s, events) =>
  events.reduce(
    (sum, e) => sum + Math.max(0, Math.min(s.end, e.start + e.ms) - Math.max(s.start, e.start)),
    0,
  );
const inWindow = (events) => events.filter((e) => e.start >= from);
const ms = (s) => s.end - s.start;
const pct = (values, p) => [...values].sort((a, b) => a - b)[Math.floor(values.length * p)];
const sum = (values) => values.reduce((a, b) => a + b, 0);
const longest = (events) => Math.max(0, ...events.map((e) => e.ms)).toFixed(1);
console.log(
  `${users} users / ${live} live, body ${(size / 2 ** 20).toFixed(1)} MiB, ${seconds} s, ${bare.scrapes.length} scrapes of each server, interleaved`,
);
const bareP99 = pct(bare.scrapes.map(ms), 0.99);
for (const d of daemons) {
  d.major = inWindow(d.gcs).filter((g) => g.kind === "major");
  d.minor = inWindow(d.gcs).filter((g) => g.kind === "minor");
  d.long = inWindow(d.blocks);
}
for (const d of servers) {
  const all = d.scrapes;
  const p99 = pct(all.map(ms), 0.99);
  const slow = [...all]
    .sort((a, b) => ms(b) - ms(a))
    .slice(0, Math.max(1, Math.ceil(all.length * 0.02)));
  const mean = (f) => (sum(slow.map(f)) / slow.length).toFixed(1);
  console.log(
    `${d.name.padEnd(8)} p50 ${pct(all.map(ms), 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (${(p99 / bareP99).toFixed(2)}x the bare server's)${d.peak ? `, CPU ${d.cpu} ms, peak RSS ${d.peak.toFixed(0)} MiB` : ""}`,
  );
  if (d.gcs)
    console.log(
      `  its main thread meanwhile: ${d.major.length} major GCs (${sum(d.major.map((g) => g.ms)).toFixed(0)} ms, longest ${longest(d.major)}), ${d.minor.length} minor (${sum(d.minor.map((g) => g.ms)).toFixed(0)} ms, longest ${longest(d.minor)}), ${d.long.length} loop blocks over 4 ms (${sum(d.long.map((b) => b.ms)).toFixed(0)} ms, longest ${longest(d.long)})`,
    );
  // What overlapped the slowest 2 %: each daemon's GC pauses and blocks, the client's own GCs.
  const blame = daemons
    .map(
      (o) =>
        `${o.name}'s major GC ${mean((x) => overlap(x, o.major))}, minor ${mean((x) => overlap(x, o.minor))}, blocks ${mean((x) => overlap(x, o.long))}`,
    )
    .join("; ");
  console.log(
    `  slowest ${slow.length}: mean ${mean(ms)} ms, overlapped by (ms) ${blame}; the client's GC ${mean((x) => overlap(x, clientGcs))}`,
  );
}
