import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { builtMain } from "../helpers/daemon.js";
import { waitFor } from "../helpers/expect-soon.js";

// Issue 10, defect 5: clients that pipeline without reading, and thousands of open connections,
// must neither blow up the exporter's memory nor keep a normal scrape waiting. The daemon runs as
// a child process, so its RSS is its own; every flood is bounded in count and time.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? "0") * 1024;
}

/** Open files this process may hold, so the connection flood fits. */
function fileLimit(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1] ?? "1024";
  return soft === "unlimited" ? 1_000_000 : Number(soft);
}

async function startChild(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [builtMain, "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", ...args],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error("daemon did not listen in 10 s")), 10_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"port":(\d+),.*"msg":"listening"/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`daemon exited with ${code}`)));
  });
  child.stdout?.resume();
  return { child, port };
}

/** A normal scrape on a new connection: its latency in ms, or Infinity when it fails. */
function scrape(port: number): Promise<number> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = get(
      { host: "127.0.0.1", port, path: "/metrics", agent: false, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode === 200 ? performance.now() - start : Infinity));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(Infinity));
  });
}

/** Scrapes every 200 ms and samples the daemon's RSS while `flood` runs for `ms`. */
async function measure(pid: number, port: number, ms: number) {
  const latencies: number[] = [];
  let peakRss = rssBytes(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 100);
  const until = Date.now() + ms;
  while (Date.now() < until) {
    latencies.push(await scrape(port));
    await sleep(200);
  }
  clearInterval(sampler);
  latencies.sort((a, b) => a - b);
  return {
    peakRss,
    median: latencies[Math.floor(latencies.length / 2)] ?? Infinity,
    p90: latencies[Math.floor(latencies.length * 0.9)] ?? Infinity,
    max: latencies.at(-1) ?? Infinity,
  };
}

/** 200 connections, each sending 2,000 pipelined GET /metrics and never reading an answer. */
const pipeliningFlood = `
import { connect } from "node:net";
const port = Number(process.argv.at(-1));
const burst = "GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n".repeat(2000);
let opened = 0;
const open = () => {
  opened++;
  const socket = connect(port, "127.0.0.1", () => socket.write(burst));
  socket.pause();
  socket.on("error", () => {});
  // A closed flooder comes back, for as long as the flood lasts.
  socket.on("close", () => setTimeout(open, 10));
};
for (let i = 0; i < 200; i++) open();
process.on("SIGTERM", () => { process.stdout.write(String(opened)); process.exit(0); });
setTimeout(() => process.exit(0), 20000);
`;

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const sockets: Socket[] = [];
const flooders: ChildProcess[] = [];
let daemon: ChildProcess | undefined;

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const flood of flooders.splice(0)) if (flood.exitCode === null) flood.kill("SIGKILL");
  if (daemon && daemon.exitCode === null) {
    daemon.kill("SIGTERM");
    await once(daemon, "exit");
  }
  daemon = undefined;
});

const flags = ["--collector.kernel", "--collector.subid", "--collector.cgroup"];

describe("bounded HTTP under floods (child process of the built daemon)", () => {
  it("200 clients pipelining /metrics without reading: RSS bounded, a normal scrape fast", async () => {
    const { child, port } = await startChild(flags);
    daemon = child;
    await scrape(port);
    await sleep(500);
    const baseline = rssBytes(child.pid ?? 0);
    // The flood runs in a process of its own, so this one is a normal client and nothing more.
    const flood = spawn(
      process.execPath,
      ["--input-type=module", "-e", pipeliningFlood, String(port)],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    flooders.push(flood);
    await sleep(300);
    const result = await measure(child.pid ?? 0, port, 7000);
    flood.kill("SIGTERM");
    const opened = await new Promise<string>((resolve) => {
      let out = "";
      flood.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
      flood.once("exit", () => resolve(out.trim()));
    });
    console.log(
      `pipelining flood (${opened} connections): RSS ${mib(baseline)} -> peak ${mib(result.peakRss)} MiB; scrape median ${result.median.toFixed(1)} ms, p90 ${result.p90.toFixed(1)} ms, max ${result.max.toFixed(1)} ms`,
    );
    // Before: over 1 GB within 7 s. Node keeps a request and a response object per parsed request.
    expect(result.peakRss - baseline).toBeLessThan(200 * 2 ** 20);
    expect(result.median).toBeLessThan(100);
    expect(result.p90).toBeLessThan(100);
  }, 60_000);

  it("a client that pipelines a few requests gets every answer, in order", async () => {
    const { child, port } = await startChild(flags);
    daemon = child;
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    const paths = ["/healthz", "/metrics", "/nope", "/healthz", "/metrics"];
    socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(""));
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    const deadline = Date.now() + 10_000;
    while ((text.match(/HTTP\/1\.1 /g) ?? []).length < paths.length && Date.now() < deadline)
      await sleep(50);
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    expect(statuses).toEqual(["200", "200", "404", "200", "200"]);
  }, 30_000);

  it("2,000 open connections: a normal scrape still gets /metrics within 100 ms", async () => {
    const maxConnections = 512;
    const { child, port } = await startChild([...flags, `--web.max-connections=${maxConnections}`]);
    daemon = child;
    await scrape(port);
    // Sized to this process's file limit (the daemon caps what it keeps at --web.max-connections).
    const count = Math.min(2000, fileLimit() - 200);
    expect(count).toBeGreaterThan(500);
    const baseline = rssBytes(child.pid ?? 0);
    let connected = 0;
    let closed = 0;
    for (let i = 0; i < count; i++) {
      const socket = connect(port, "127.0.0.1", () => {
        connected++;
        socket.write("GET /metrics HTTP/1.1\r\nHo");
      });
      socket.on("error", () => undefined);
      socket.once("close", () => closed++);
      sockets.push(socket);
      if (i % 200 === 199) await sleep(20);
    }
    // Every connection was accepted, and the daemon closed the oldest ones past its cap: what is
    // measured below runs with exactly --web.max-connections of them held open.
    await waitFor(
      `${count} connections accepted and ${maxConnections} of them held`,
      () => connected === count && count - closed === maxConnections,
      15_000,
      { seen: () => `${connected} accepted, ${count - closed} held` },
    );
    const result = await measure(child.pid ?? 0, port, 4000);
    console.log(
      `${count} connections, ${maxConnections} held (${count - closed} still after the scrapes): RSS ${mib(baseline)} -> peak ${mib(result.peakRss)} MiB; scrape median ${result.median.toFixed(1)} ms, p90 ${result.p90.toFixed(1)} ms, max ${result.max.toFixed(1)} ms`,
    );
    expect(result.median).toBeLessThan(100);
    expect(result.p90).toBeLessThan(100);
    expect(result.peakRss - baseline).toBeLessThan(100 * 2 ** 20);
  }, 60_000);
});
