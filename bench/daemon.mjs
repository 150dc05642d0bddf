// What the benches share to run a built daemon (or a bare server beside it) as a child process,
// scrape it, and read its /proc figures. A bench imports this from its own directory
// (`./daemon.mjs`), so it works whichever built checkout it measures (BENCH_ROOT, ROOT, ...): the
// daemon is that checkout's dist/main.js, given by path in the arguments.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";

/**
 * Starts `node ...args` (its environment: this process's and `env`; stdout read, stderr shared)
 * and resolves with { child, port } once it logs a JSON line with "port"; rejects if it exits first.
 */
export function startProcess(args, env = {}) {
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const match = /"port":(\d+)/.exec(buffered);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code}`)));
  });
}

/** Sends SIGTERM and resolves once the process has exited. */
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  return exited;
}

/** A copy of this checkout's test/fixtures/healthy in a new temporary directory. */
export function healthyFixture(checkout, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cpSync(join(checkout, "test/fixtures/healthy"), dir, { recursive: true });
  return dir;
}

/** The argv of `root`'s built daemon watching alice on the fixture, on a free loopback port. */
export const onFixture = (root, fixture) => [
  join(root, "dist/main.js"),
  `--path.procfs=${fixture}/proc`,
  `--path.sysfs=${fixture}/sys`,
  `--path.rootfs=${fixture}/root`,
  "--target.user=alice",
  "--web.listen-address=127.0.0.1:0",
];

/**
 * Starts a bare Node server answering every request with `bytes` bytes (text/plain), written as
 * bare.mjs in `dir`: what a daemon's /metrics is compared with.
 */
export function startBare(dir, bytes) {
  const file = join(dir, "bare.mjs");
  writeFileSync(
    file,
    `import { createServer } from "node:http";
const body = Buffer.alloc(${bytes}, 0x61);
const server = createServer((req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(body); });
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));`,
  );
  return startProcess([file]);
}

/** Now, in ms since the epoch, to the µs (comparable with GC entries' start). */
export const now = () => performance.timeOrigin + performance.now();

/** This process's GC pauses from now on ({ start, ms }), in the array returned. */
export function recordGcs() {
  const gcs = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      gcs.push({ start: performance.timeOrigin + e.startTime, ms: e.duration });
  }).observe({ entryTypes: ["gc"] });
  return gcs;
}

/** A scrape of /metrics at 127.0.0.1:port through `agent`: its { start, end, bytes }. */
export const scrape = (agent, port) =>
  new Promise((resolve, reject) => {
    const started = now();
    request({ host: "127.0.0.1", port, path: "/metrics", agent }, (res) => {
      let bytes = 0;
      res.on("data", (chunk) => (bytes += chunk.length));
      res.on("end", () => resolve({ start: started, end: now(), bytes }));
    })
      .on("error", reject)
      .end();
  });

/** One read of /proc/PID/status: field name (VmRSS, VmHWM, RssAnon, ...) → MiB. */
export function statusOf(pid) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)[1]) / 1024;
}

/** The CPU time the process has used (utime + stime of /proc/PID/stat), in ms (ticks of 10 ms). */
export function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
