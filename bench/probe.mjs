// The throughput probe against iperf3 over the same paths, side by side in one run.
// Run as an unprivileged user with subordinate IDs (rootlesskit, slirp4netns, iperf3 installed,
// /dev/net/tun usable), after `npm run build`:
//   node bench/probe.mjs [bytes] [rounds]
//     Debian 12 (rootlesskit 1.1): the builtin and slirp4netns port drivers and slirp4netns's
//     network path, at MTU 65520
//   node bench/probe.mjs [bytes] [rounds] --nets=pasta,slirp4netns --mtus=1500,65520
//     rootlesskit 2 (Debian 13): each network driver at each MTU, both paths (pasta's port path
//     through its implicit port driver, slirp4netns's through the builtin one)
// It starts its own rootlesskit instances (no Docker needed) and stops them at the end.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { probeCollector } from "../dist/collectors/probe/probe.js";
import { unixHttp } from "../dist/host/unix-http.js";
import { listensOn } from "../dist/host/tcp-listeners.js";

const run = promisify(execFile);
const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flag = (name) =>
  process.argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(",");
const bytes = Number(positional[0] ?? 64 * 1024 * 1024);
const rounds = Number(positional[1] ?? 3);
const uid = process.getuid();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
// iperf3 3.18 (Debian 13) stretches an -n transfer to at least a second, so there give it a time.
const iperfSeconds = flag("iperf-seconds")?.[0];
const amount = iperfSeconds ? ["-t", iperfSeconds, "-O", "0.5"] : ["-n", String(bytes)];
const roots = { procfs: "/proc", sysfs: "/sys", rootfs: "/" };

async function startKit(name, net, mtu, portDriver) {
  const dir = mkdtempSync(join(tmpdir(), `probe-bench-${name}-`));
  const stateDir = join(dir, "state");
  const kit = spawn(
    "rootlesskit",
    [
      `--net=${net}`,
      `--mtu=${mtu}`,
      `--state-dir=${stateDir}`,
      `--port-driver=${portDriver}`,
      "sleep",
      "3600",
    ],
    {
      env: { ...process.env, XDG_RUNTIME_DIR: dir },
      stdio: "ignore",
    },
  );
  for (let i = 0; i < 100 && !existsSync(join(stateDir, "child_pid")); i++) await pause(100);
  const childPid = Number(readFileSync(join(stateDir, "child_pid"), "utf8"));
  return { name, net, mtu, portDriver, dir, stateDir, childPid, kit };
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
  if (kit.portDriver === "implicit") return iperfImplicit(kit);
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
      ["-c", "127.0.0.1", "-p", String(parentPort), ...amount, "-R", "-J"],
      { maxBuffer: 1 << 24 },
    );
    return JSON.parse(stdout).end.sum_received.bits_per_second / 8;
  } finally {
    await unixHttp(socket, `/v1/ports/${id}`, { method: "DELETE", timeoutMs: 2000 });
    server.kill("SIGKILL");
  }
}

/** iperf3 through pasta's implicit forward: the server listens in the namespace, pasta takes the same port on the host. */
async function iperfImplicit(kit) {
  const port = 15202;
  const [file, ...args] = nsenter(kit.childPid, "iperf3", "-s", "-1", "-p", String(port));
  const server = spawn(file, args, { stdio: "ignore" });
  try {
    for (let i = 0; i < 50 && !(await listensOn(roots, kit.kit.pid, port, uid)); i++)
      await pause(100);
    const { stdout } = await run(
      "iperf3",
      ["-c", "127.0.0.1", "-p", String(port), ...amount, "-R", "-J"],
      { maxBuffer: 1 << 24 },
    );
    return JSON.parse(stdout).end.sum_received.bits_per_second / 8;
  } finally {
    server.kill("SIGKILL");
    await pause(1200);
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
      ...amount,
      "-R",
      "-J",
    );
    const { stdout } = await run(file, args, { maxBuffer: 1 << 24 });
    return JSON.parse(stdout).end.sum_received.bits_per_second / 8;
  } finally {
    server.kill("SIGKILL");
  }
}

const nets = flag("nets");
const mtus = flag("mtus") ?? ["65520"];
const configs = nets
  ? [
      ...nets.flatMap((net) =>
        mtus.map((mtu) => ({
          name: `${net}-${mtu}`,
          net,
          mtu,
          portDriver: net === "pasta" ? "implicit" : "builtin",
          network: true,
        })),
      ),
      // slirp4netns's own port driver once, at Docker's default MTU for slirp4netns.
      ...(nets.includes("slirp4netns")
        ? [
            {
              name: "slirp",
              net: "slirp4netns",
              mtu: "65520",
              portDriver: "slirp4netns",
              network: false,
            },
          ]
        : []),
    ]
  : [
      { name: "builtin", net: "slirp4netns", mtu: "65520", portDriver: "builtin", network: true },
      {
        name: "slirp",
        net: "slirp4netns",
        mtu: "65520",
        portDriver: "slirp4netns",
        network: false,
      },
    ];
const kits = [];
try {
  for (const c of configs)
    kits.push({ ...(await startKit(c.name, c.net, c.mtu, c.portDriver)), network: c.network });
  const results = new Map(
    kits.map((k) => [k.name, { port: [[], []], network: [[], []], peer: "" }]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const kit of kits) {
      const r = results.get(kit.name);
      const probed = await probeCollector.collect(context(kit.dir));
      if (!probed.port.ok)
        console.error(kit.name, "port probe:", probed.port.error ?? probed.port.reason);
      r.port[0].push(probed.port.bytesPerSecond ?? NaN);
      r.port[1].push(await iperfPort(kit));
      r.peer ||= `${probed.port.peer}, propagated ${probed.port.sourceIpPropagated}`;
      if (kit.network) {
        if (!probed.network.ok)
          console.error(kit.name, "network probe:", probed.network.error ?? probed.network.reason);
        r.network[0].push(probed.network.bytesPerSecond ?? NaN);
        r.network[1].push(await iperfNetwork(kit));
      }
    }
  }
  const version = (await run("rootlesskit", ["--version"])).stdout.trim();
  console.log(
    `${rounds} rounds of ${(bytes / 1048576).toFixed(0)} MiB per path, medians; node ${process.version}; ${version}`,
  );
  console.log(
    "path                                          probe MB/s   iperf3 MB/s   probe/iperf3",
  );
  for (const kit of kits) {
    const r = results.get(kit.name);
    const rows = [[`port, ${kit.portDriver} driver (child -> host)`, r.port]];
    if (kit.network) rows.push([`network, ${kit.net} (host -> child)`, r.network]);
    for (const [path, [probe, iperf]] of rows) {
      const p = median(probe);
      const i = median(iperf);
      console.log(
        `${`MTU ${kit.mtu} ${path}`.padEnd(48)} ${mbps(p).toFixed(0).padStart(8)} ${mbps(i).toFixed(0).padStart(13)} ${(p / i).toFixed(2).padStart(14)}`,
      );
    }
  }
  for (const kit of kits)
    console.log(
      `source IP (${kit.net}, ${kit.portDriver} port driver): sink saw ${results.get(kit.name).peer}`,
    );
} finally {
  for (const kit of kits) {
    kit.kit.kill("SIGTERM");
    await pause(300);
    rmSync(kit.dir, { recursive: true, force: true });
  }
}
