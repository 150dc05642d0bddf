// The throughput probe against iperf3 over the same paths, side by side in one run:
//   the builtin port driver, the slirp4netns port driver, and the slirp4netns network path.
// Run as an unprivileged user with subordinate IDs (rootlesskit, slirp4netns, iperf3 installed,
// /dev/net/tun usable), after `npm run build`:   node bench/probe.mjs [bytes] [rounds]
// It starts its own rootlesskit instances (no Docker needed) and stops them at the end.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { probeCollector } from "../dist/collectors/probe.js";
import { unixHttp } from "../dist/host/unix-http.js";

const run = promisify(execFile);
const bytes = Number(process.argv[2] ?? 64 * 1024 * 1024);
const rounds = Number(process.argv[3] ?? 3);
const uid = process.getuid();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function startKit(name, flags) {
  const dir = mkdtempSync(join(tmpdir(), `probe-bench-${name}-`));
  const stateDir = join(dir, "state");
  const kit = spawn(
    "rootlesskit",
    ["--net=slirp4netns", "--mtu=65520", `--state-dir=${stateDir}`, ...flags, "sleep", "3600"],
    {
      env: { ...process.env, XDG_RUNTIME_DIR: dir },
      stdio: "ignore",
    },
  );
  for (let i = 0; i < 100 && !existsSync(join(stateDir, "child_pid")); i++) await pause(100);
  const childPid = Number(readFileSync(join(stateDir, "child_pid"), "utf8"));
  return { dir, stateDir, childPid, kit };
}

function context(dir) {
  return {
    roots: { procfs: "/proc", sysfs: "/sys", rootfs: "/" },
    target: {
      name: "bench",
      uid,
      gid: process.getgid(),
      home: process.env.HOME ?? "/",
      groups: [],
      runtimeDir: dir,
    },
    signal: new AbortController().signal,
    note: () => undefined,
    info: () => undefined,
    env: {},
    rpcTimeoutMs: 2000,
    option: (name) => ({ bytes: String(bytes), timeout: "60s", "network-target": "" })[name] ?? "",
  };
}

const nsenter = (childPid, ...argv) => [
  "nsenter",
  "-U",
  "--preserve-credentials",
  "-n",
  "-t",
  String(childPid),
  ...argv,
];
const mbps = (bytesPerSecond) => bytesPerSecond / 1e6;

/** iperf3 through a rootlesskit forward: server in the namespace sends (-R), as the probe's agent does. */
async function iperfPort(kit) {
  const childPort = 15201;
  const parentPort = 25201;
  const [file, ...args] = nsenter(kit.childPid, "iperf3", "-s", "-1", "-p", String(childPort));
  const server = spawn(file, args, { stdio: "ignore" });
  await pause(300);
  const socket = join(kit.stateDir, "api.sock");
  const body = JSON.stringify({ proto: "tcp", parentIP: "127.0.0.1", parentPort, childPort });
  const created = await unixHttp(socket, "/v1/ports", { method: "POST", body, timeoutMs: 2000 });
  const id = JSON.parse(created.body).id;
  try {
    const { stdout } = await run(
      "iperf3",
      ["-c", "127.0.0.1", "-p", String(parentPort), "-n", String(bytes), "-R", "-J"],
      { maxBuffer: 1 << 24 },
    );
    return JSON.parse(stdout).end.sum_received.bits_per_second / 8;
  } finally {
    await unixHttp(socket, `/v1/ports/${id}`, { method: "DELETE", timeoutMs: 2000 });
    server.kill("SIGKILL");
  }
}

/** iperf3 between the namespace and the host's loopback via slirp4netns (10.0.2.2); the host sends (-R). */
async function iperfNetwork(kit) {
  const port = 25202;
  const server = spawn("iperf3", ["-s", "-1", "-B", "127.0.0.1", "-p", String(port)], {
    stdio: "ignore",
  });
  await pause(300);
  try {
    const [file, ...args] = nsenter(
      kit.childPid,
      "iperf3",
      "-c",
      "10.0.2.2",
      "-p",
      String(port),
      "-n",
      String(bytes),
      "-R",
      "-J",
    );
    const { stdout } = await run(file, args, { maxBuffer: 1 << 24 });
    return JSON.parse(stdout).end.sum_received.bits_per_second / 8;
  } finally {
    server.kill("SIGKILL");
  }
}

const builtin = await startKit("builtin", ["--port-driver=builtin"]);
const slirp = await startKit("slirp", ["--port-driver=slirp4netns"]);
const rows = [];
try {
  const results = { builtinPort: [[], []], slirpPort: [[], []], network: [[], []] };
  for (let round = 0; round < rounds; round++) {
    const a = await probeCollector.collect(context(builtin.dir));
    results.builtinPort[0].push(a.port.bytesPerSecond ?? NaN);
    results.network[0].push(a.network.bytesPerSecond ?? NaN);
    results.builtinPort[1].push(await iperfPort(builtin));
    results.network[1].push(await iperfNetwork(builtin));
    const b = await probeCollector.collect(context(slirp.dir));
    results.slirpPort[0].push(b.port.bytesPerSecond ?? NaN);
    results.slirpPort[1].push(await iperfPort(slirp));
    if (round === 0) {
      rows.push(["source IP (builtin port driver)", a.port.peer, a.port.sourceIpPropagated]);
      rows.push(["source IP (slirp4netns port driver)", b.port.peer, b.port.sourceIpPropagated]);
    }
  }
  console.log(
    `${rounds} rounds of ${(bytes / 1048576).toFixed(0)} MiB per path, medians; node ${process.version}`,
  );
  console.log("path                                  probe MB/s   iperf3 MB/s   probe/iperf3");
  for (const [name, [probe, iperf]] of [
    ["port, builtin driver (child -> host)", results.builtinPort],
    ["port, slirp4netns driver (child -> host)", results.slirpPort],
    ["network, slirp4netns (host -> child)", results.network],
  ]) {
    const p = median(probe);
    const i = median(iperf);
    console.log(
      `${name.padEnd(40)} ${mbps(p).toFixed(0).padStart(8)} ${mbps(i).toFixed(0).padStart(13)} ${(p / i).toFixed(2).padStart(14)}`,
    );
  }
  for (const [name, peer, propagated] of rows)
    console.log(`${name}: sink saw ${peer}, propagated ${propagated}`);
} finally {
  for (const kit of [builtin, slirp]) {
    kit.kit.kill("SIGTERM");
    await pause(300);
    rmSync(kit.dir, { recursive: true, force: true });
  }
}
