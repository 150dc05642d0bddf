// One host-mode daemon alone on bench/host-fixture.mjs's generated host, as the system unit
// starts it (its Environment= and node options), scraped every 2 s for SECONDS: prints its
// VmHWM and VmRSS at the end. No in-process cycles and no second daemon beside it (host-mode.mjs
// and host-ab.mjs have both), so its memory series is its own; with bench/memory-sampler.mjs:
//   SAMPLER_OUT=/tmp/s.json NODE_OPTIONS=--import=$PWD/bench/memory-sampler.mjs \
//     node bench/daemon-alone.mjs [users=1000] [live=100] [seconds=40]
// As root after `npm run build`; ROOT=<another built checkout> runs that build.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess, stop } from "./daemon.mjs";
import { generateHost, rootFlags, unitCommand } from "./host-fixture.mjs";

const root = process.env.ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const [users = 1000, live = 100, seconds = 40] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-daemon-alone-"));
const { roots } = generateHost(dir, users, live);
const asUnit = unitCommand(root);
const daemon = await startProcess(
  [
    ...asUnit.nodeArgs,
    join(root, "dist/main.js"),
    ...rootFlags(roots),
    "--web.listen-address=127.0.0.1:0",
    "--collect.interval=15s",
    "--collect.rpc-timeout=200ms",
    "--web.disable-exporter-metrics",
  ],
  asUnit.env,
);
const scrape = () =>
  new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port: daemon.port, path: "/metrics" }, (res) => {
      res.on("data", () => {});
      res.on("end", resolve);
    })
      .on("error", reject)
      .end();
  });
const started = Date.now();
try {
  while (Date.now() - started < seconds * 1000) {
    await scrape();
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const status = readFileSync(`/proc/${daemon.child.pid}/status`, "utf8");
  const kib = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)[1]);
  console.log(
    `${users} users (${live} live), ${root}: VmHWM ${(kib("VmHWM") / 1024).toFixed(1)} MiB, VmRSS ${(kib("VmRSS") / 1024).toFixed(1)} MiB after ${seconds} s`,
  );
} finally {
  await stop(daemon.child);
  rmSync(dir, { recursive: true, force: true });
}
