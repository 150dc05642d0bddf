// How much of /metrics a steady cycle changes: would a body kept as many small buffers, the
// unchanged ones shared with the body being served, hold less than two whole bodies at once?
// A Watch and a renderer in this process on bench/host-fixture.mjs's generated host: three
// cycles and a rendering, then one more cycle and a rendering, and the two bodies compared
// metric block by metric block, and in segments of SEGMENT lines (256) within each block.
// As root, after `npm run build`: node bench/body-diff.mjs [users=1000] [live=100]
// (ROOT=<another built checkout> measures that build.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateHost, hostMode } from "./host-fixture.mjs";

const root = process.env.ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const segment = Number(process.env.SEGMENT ?? 256);
const { MetricsRenderer, watch: hostWatch } = await hostMode(root);
const [users = 1000, live = 100] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-body-diff-"));
const { roots } = generateHost(dir, users, live);
const watch = await hostWatch(roots);
for (let i = 0; i < 3; i++) await watch.scheduler.runAll();
const build = { version: "bench", nodejsVersion: process.version };
const render = async () => {
  const renderer = new MetricsRenderer({
    samples: () => watch.snapshot(build),
    exporterMetrics: false,
  });
  const body = Buffer.from(await renderer.render()).toString();
  renderer.stop();
  return body;
};
const before = await render();
await watch.scheduler.runAll();
const after = await render();

/** The body's blocks by metric name, each as its lines. */
const blocks = (body) => {
  const out = new Map();
  for (const block of body.split(/\n(?=# HELP )/))
    out.set(block.split(" ", 3)[2], block.split("\n"));
  return out;
};
const [a, b] = [blocks(before), blocks(after)];
const size = (lines) => lines.reduce((n, line) => n + Buffer.byteLength(line) + 1, 0);
let changedBlocks = 0;
let changedBlockBytes = 0;
let segments = 0;
let changedSegments = 0;
let changedSegmentBytes = 0;
for (const [name, lines] of b) {
  const old = a.get(name) ?? [];
  if (lines.join("\n") !== old.join("\n")) {
    changedBlocks++;
    changedBlockBytes += size(lines);
  }
  for (let at = 0; at < lines.length; at += segment) {
    segments++;
    const mine = lines.slice(at, at + segment).join("\n");
    if (mine !== old.slice(at, at + segment).join("\n")) {
      changedSegments++;
      changedSegmentBytes += Buffer.byteLength(mine);
    }
  }
}
const mib = (n) => (n / 2 ** 20).toFixed(2);
console.log(
  `${users} users (${live} live): body ${mib(Buffer.byteLength(after))} MiB, ` +
    `${b.size} metric blocks, ${changedBlocks} changed (${mib(changedBlockBytes)} MiB); ` +
    `${segments} segments of ${segment} lines, ${changedSegments} changed (${mib(changedSegmentBytes)} MiB)`,
);
await watch.stop();
rmSync(dir, { recursive: true, force: true });
