// Host mode at scale, on a generated host: 1,000 users in /etc/passwd and /etc/subuid, 100 of them
// with a rootless daemon's process tree (rootlesskit parent and child, dockerd, slirp4netns) in a
// generated procfs and a runtime dir with docker.pid. Side by side in one process:
//  - host mode: one exporter (as root, no --target.user) for the whole host, cycle after cycle;
//  - per-user mode run 100 times: one exporter per live user (--target.user), one cycle each;
// then RSS, and /metrics latency of the host-mode daemon while its cycles run against a bare Node
// server answering a buffer of the same size, with the same load.
// Run as root after `npm run build`: node bench/host-mode.mjs [cycles=10] [users=1000] [live=100]
import { spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";

const root = fileURLToPath(new URL("..", import.meta.url));
const [cycles = 10, userCount = 1000, liveCount = 100] = process.argv.slice(2).map(Number);
if (process.getuid?.() !== 0) {
  console.error(
    "bench/host-mode.mjs needs root: host mode is what root runs, and procfs owners are chowned",
  );
  process.exit(2);
}
const dist = (path) => import(join(root, "dist", path));
const [{ parseCommandLine }, { collectorList, collectors }, { Watch }, { MetricsRenderer }] =
  await Promise.all([
    dist("cli.js"),
    dist("collectors/registry.js"),
    dist("exporter/schedule/watch.js"),
    dist("exporter/render/renderer.js"),
  ]);

const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-host-bench-"));
const roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: join(dir, "root") };
const write = (path, text) => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
};
const firstUid = 2000;
const names = Array.from({ length: userCount }, (_, i) => `user${String(i).padStart(4, "0")}`);

function generate() {
  write(join(roots.rootfs, "etc/login.defs"), "UID_MIN 1000\n");
  write(
    join(roots.rootfs, "etc/passwd"),
    [
      "root:x:0:0:root:/root:/bin/bash",
      ...names.map((n, i) => `${n}:x:${firstUid + i}:${firstUid + i}::/home/${n}:/bin/bash`),
    ].join("\n") + "\n",
  );
  write(
    join(roots.rootfs, "etc/group"),
    ["root:x:0:", ...names.map((n, i) => `${n}:x:${firstUid + i}:`)].join("\n") + "\n",
  );
  const ranges = names.map((n, i) => `${n}:${100000 + i * 65536}:65536`).join("\n") + "\n";
  write(join(roots.rootfs, "etc/subuid"), ranges);
  write(join(roots.rootfs, "etc/subgid"), ranges);
  write(join(roots.procfs, "stat"), "cpu  1 2 3 4\nbtime 1700000000\n");
  write(join(roots.procfs, "locks"), "");
  write(join(roots.procfs, "sys/kernel/osrelease"), "6.1.0-28-amd64\n");
  write(join(roots.procfs, "sys/net/ipv4/ping_group_range"), "0\t2147483647\n");
  write(join(roots.procfs, "sys/user/max_user_namespaces"), "63704\n");
  write(
    join(roots.procfs, "modules"),
    "ip_tables 36864 0 - Live 0x0\noverlay 151552 0 - Live 0x0\n",
  );
  write(join(roots.sysfs, "fs/cgroup/cgroup.controllers"), "cpuset cpu io memory pids\n");
  let pid = 10000;
  for (let i = 0; i < liveCount; i++) {
    const uid = firstUid + i;
    const run = `/run/user/${uid}`;
    const stateDir = `${run}/dockerd-rootless`;
    const [parent, child, dockerd, slirp] = [pid, pid + 1, pid + 2, pid + 3];
    pid += 4;
    const proc = (p, ppid, comm, exe, argv, children = []) => {
      const base = join(roots.procfs, String(p));
      const fields = ["S", ppid, p, p, 0, -1, 0, 0, 0, 0, 0, 150, 50, 0, 0, 20, 0, 1, 0];
      write(join(base, "stat"), `${p} (${comm}) ${fields.join(" ")} ${5000 + p} 1000 200 0\n`);
      write(
        join(base, "status"),
        `Name:\t${comm}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nNSpid:\t${p}\nVmRSS:\t4096 kB\n`,
      );
      write(join(base, "cmdline"), `${argv.join("\0")}\0`);
      write(join(base, "comm"), `${comm}\n`);
      write(join(base, "task", String(p), "children"), children.join(" "));
      write(
        join(base, "net/dev"),
        "Inter-|\n face |\n  tap0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n",
      );
      write(join(base, "uid_map"), `0 ${uid} 1\n1 ${100000 + i * 65536} 65536\n`);
      write(join(base, "gid_map"), `0 ${uid} 1\n1 ${100000 + i * 65536} 65536\n`);
      symlinkSync(exe, join(base, "exe"));
      chownSync(base, uid, uid);
    };
    proc(
      parent,
      1,
      "rootlesskit",
      "/usr/bin/rootlesskit",
      [
        "rootlesskit",
        "--net=slirp4netns",
        "--mtu=65520",
        `--state-dir=${stateDir}`,
        "--port-driver=builtin",
        "dockerd",
      ],
      [child, slirp],
    );
    proc(child, parent, "exe", "/usr/bin/rootlesskit", ["rootlesskit"], [dockerd]);
    proc(dockerd, child, "dockerd", "/usr/sbin/dockerd", ["dockerd"]);
    proc(slirp, parent, "slirp4netns", "/usr/bin/slirp4netns", [
      "slirp4netns",
      "--mtu",
      "65520",
      String(child),
      "tap0",
    ]);
    for (const [file, text] of [
      ["docker.pid", `${dockerd}\n`],
      ["dockerd-rootless/child_pid", String(child)],
      ["dockerd-rootless/lock", ""],
    ]) {
      const path = join(roots.rootfs, run, file);
      write(path, text);
      chownSync(path, uid, uid);
    }
    chownSync(join(roots.rootfs, run, "dockerd-rootless"), uid, uid);
    chownSync(join(roots.rootfs, run), uid, uid);
  }
}

const cpuMs = (used) => (used.user + used.system) / 1000;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
const log = pino({ level: "silent" });
const rootFlags = [
  `--path.procfs=${roots.procfs}`,
  `--path.sysfs=${roots.sysfs}`,
  `--path.rootfs=${roots.rootfs}`,
];

async function watchFor(extra) {
  const command = parseCommandLine(
    [...rootFlags, "--collect.rpc-timeout=200ms", ...extra],
    {},
    collectorList,
  );
  return Watch.create({
    config: command.config,
    collectors,
    env: {},
    log,
    trigger: () => ({ stop() {} }),
  });
}

generate();
console.log(`generated host: ${userCount} users, ${liveCount} with a rootless daemon (${dir})`);
const rssBefore = rssMiB();

// Host mode: one exporter for the host.
const host = await watchFor([]);
await host.scheduler.runAll(); // warm-up: JIT, caches, the subid index
const hostCpu = [];
for (let i = 0; i < cycles; i++) {
  const before = process.cpuUsage();
  await host.scheduler.runAll();
  hostCpu.push(cpuMs(process.cpuUsage(before)));
}
const watched = host.scheduler.targets().length;
const renderer = new MetricsRenderer({
  samples: () => host.samples({ version: "bench", nodejsVersion: process.version }),
  exporterMetrics: false,
});
let before = process.cpuUsage();
const body = await renderer.render();
const renderMs = cpuMs(process.cpuUsage(before));
const { exposition } = await dist("exporter/render/exposition.js");
const parts = {};
for (let i = 0; i < 3; i++) {
  let t = process.cpuUsage();
  const views = host.scheduler.targetViews();
  parts.views = cpuMs(process.cpuUsage(t));
  t = process.cpuUsage();
  const { findingsFor } = await dist("exporter/render/findings.js");
  for (const v of views) findingsFor(v);
  parts.findings = cpuMs(process.cpuUsage(t));
  t = process.cpuUsage();
  const set = await host.samples({ version: "bench", nodejsVersion: process.version });
  parts.samples = cpuMs(process.cpuUsage(t));
  t = process.cpuUsage();
  exposition(set);
  parts.exposition = cpuMs(process.cpuUsage(t));
}
console.log(
  `  render parts (ms CPU): ${Object.entries(parts)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(", ")}`,
);
const rssHost = rssMiB();
globalThis.gc?.();
const heapLive = process.memoryUsage().heapUsed / 2 ** 20;

// Per-user mode, 100 times: one exporter per live user, each warmed up, then one cycle each.
const single = [];
for (let i = 0; i < liveCount; i++) single.push(await watchFor([`--target.user=${names[i]}`]));
for (const w of single) await w.scheduler.runAll();
const singleCpu = [];
for (let round = 0; round < Math.min(cycles, 3); round++) {
  before = process.cpuUsage();
  for (const w of single) await w.scheduler.runAll();
  singleCpu.push(cpuMs(process.cpuUsage(before)));
}
for (const w of single) await w.stop();
await host.stop();

const hostMedian = median(hostCpu);
console.log(`host mode: ${watched} users watched, ${cycles} cycles`);
console.log(
  `  CPU per cycle: median ${hostMedian.toFixed(1)} ms, max ${Math.max(...hostCpu).toFixed(1)} ms (budget 1000 ms)`,
);
console.log(
  `  per user with a live daemon, if the idle users cost nothing: ${(hostMedian / liveCount).toFixed(2)} ms (budget 10 ms)`,
);
console.log(
  `  one /metrics rendering: ${renderMs.toFixed(1)} ms CPU, ${(body.length / 1024).toFixed(0)} KiB`,
);
console.log(
  `  RSS: ${rssBefore.toFixed(0)} MiB before, ${rssHost.toFixed(0)} MiB after the host-mode cycles (budget 120 MB); live heap after a full GC: ${globalThis.gc ? `${heapLive.toFixed(0)} MiB` : "run with --expose-gc"}`,
);
console.log(
  `per-user mode x${liveCount} (the live users only): median ${median(singleCpu).toFixed(1)} ms CPU per round of one cycle each`,
);
console.log(
  `  ratio host mode (all ${watched} users) / per-user x${liveCount}: ${(hostMedian / median(singleCpu)).toFixed(2)}x`,
);

// Scrapes while cycles run: the host-mode daemon against a bare server answering the same bytes.
function startProcess(args) {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
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
const bareFile = join(dir, "bare.mjs");
writeFileSync(
  bareFile,
  `import { createServer } from "node:http";
const body = Buffer.alloc(${body.length}, 0x61);
const server = createServer((req, res) => { res.writeHead(200, { "content-type": "text/plain" }); res.end(body); });
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));`,
);
const daemon = await startProcess([
  join(root, "dist/main.js"),
  ...rootFlags,
  "--web.listen-address=127.0.0.1:0",
  "--collect.interval=1s",
  "--collect.rpc-timeout=200ms",
  "--web.disable-exporter-metrics",
]);
const bare = await startProcess([bareFile]);
await new Promise((r) => setTimeout(r, 3000)); // the first cycle done

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = (port) =>
  new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    request({ host: "127.0.0.1", port, path: "/metrics", agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
    })
      .on("error", reject)
      .end();
  });
const latencies = { daemon: [], bare: [] };
const deadline = Date.now() + 20_000;
for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
  // Interleaved, so both see the same moments of this noisy machine.
  latencies.daemon.push(await get(daemon.port));
  latencies.bare.push(await get(bare.port));
}
const p99 = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)];
console.log(
  `scrapes while cycles run (15 s interval, 20 s, ${latencies.daemon.length} each, interleaved):`,
);
console.log(
  `  p99 daemon ${p99(latencies.daemon).toFixed(2)} ms, bare ${p99(latencies.bare).toFixed(2)} ms: ${(p99(latencies.daemon) / p99(latencies.bare)).toFixed(2)}x (budget 1.3x)`,
);
const status = (await import("node:fs")).readFileSync(`/proc/${daemon.child.pid}/status`, "utf8");
console.log(`  daemon RSS ${(Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024).toFixed(0)} MiB`);
daemon.child.kill("SIGTERM");
bare.child.kill("SIGTERM");
agent.destroy();
rmSync(dir, { recursive: true, force: true });
