import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, chmodSync } from "node:fs";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProbePath } from "../../src/collectors/probe/facts.js";
import type { RootlesskitInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { parseInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { defaultRoots } from "../../src/host/paths.js";
import { listensOn } from "../../src/host/tcp-listeners.js";
import { parseJson, unixHttp } from "../../src/host/unix-http.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, seriesLines, startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon } from "../helpers/expect-soon.js";
import {
  addHostNetwork,
  expectSoonInside,
  fetchInside,
  hostAddress,
} from "../helpers/trixie-net.js";
import {
  alive,
  descendants,
  killIfAlive,
  makeBusyboxTar,
  waitFor,
} from "../helpers/rootless-docker.js";
import type { TrixieContainer } from "../helpers/trixie.js";
import {
  sidRoot,
  startTrixie,
  trixieMissing,
  trixieRoot,
  trixieUserName,
} from "../helpers/trixie.js";
import type { ContainerDocker } from "../helpers/trixie-docker.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";
import { startContainerDocker } from "../helpers/trixie-docker.js";

// The pasta ring: Debian 13 (rootlesskit 2.0.2, passt, Docker 26, Node 20) in a systemd-nspawn
// container on the host's network, rootless Docker for the container's test user on pasta with the
// implicit port driver and on slirp4netns, the exporter run there with Debian's own node, compared
// with what api.sock, /proc and Docker say, and faults injected while it runs. There Docker runs
// with DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false, so the probe's network path goes
// to the host's loopback through the gateway. The Docker-28 ring (issue 21) is the same on Debian
// unstable (Docker 28, rootlesskit 2.0.2, Node 24) with Docker's defaults (--disable-host-loopback:
// the network path picks an address of the host by itself), so it runs in a container with a
// network of its own whose "host" address is 198.18.0.1 (test/helpers/trixie-net.ts): /metrics,
// published ports and the probe are reached from inside it, and it also compares the probe with
// iperf3 on each path.
const missing = trixieMissing();
const run = promisify(execFile);

interface Debian {
  readonly name: string;
  readonly root: string | undefined;
  readonly missing: string | undefined;
  /** The major version of Docker it packages. */
  readonly docker: number;
  /**
   * Docker's defaults (--disable-host-loopback) in a container with a network of its own, rather
   * than the host's network with the host loopback let in.
   */
  readonly privateNetwork: boolean;
}

const debians: Debian[] = [
  { name: "Debian 13", root: trixieRoot, missing, docker: 26, privateNetwork: false },
  {
    name: "Debian unstable",
    root: sidRoot,
    missing: trixieMissing(sidRoot, "ROOTLESS_TEST_SID_ROOT"),
    docker: 28,
    privateNetwork: true,
  },
];
const interval = 1000;
const withinOneInterval = 3 * interval + 2000;
const inside = "/opt/rootless-exporter";

interface Ring {
  readonly driver: "pasta" | "slirp4netns";
  readonly env: Record<string, string>;
  readonly portDriver: string;
}

const rings: Ring[] = [
  {
    driver: "pasta",
    env: {
      DOCKERD_ROOTLESS_ROOTLESSKIT_NET: "pasta",
      // nspawn's read-only /proc/sys: dockerd cannot turn IPv6 off on a container's interface.
      DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE: "1",
      DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "implicit",
    },
    portDriver: "",
  },
  {
    driver: "slirp4netns",
    env: {
      DOCKERD_ROOTLESS_ROOTLESSKIT_NET: "slirp4netns",
      // nspawn's read-only /proc/sys: dockerd cannot turn IPv6 off on a container's interface.
      DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE: "1",
      DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "builtin",
    },
    portDriver: "builtin",
  },
];

/** The network driver's process among rootlesskit's descendants (pasta runs as pasta.avx2 on AVX2 CPUs). */
function driverProcess(docker: ContainerDocker, driver: string): number | undefined {
  return descendants(docker.pid).find((pid) => {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      return comm === driver || comm.startsWith(`${driver}.`);
    } catch {
      return false;
    }
  });
}

/** The exporter's own event-loop delay, to tell a blocked exporter from a starved machine. */
function loopLag(body: string): string {
  const max = valueOf(body, "nodejs_eventloop_lag_max_seconds");
  return `a scrape was slow; the exporter's event loop lag max was ${max ?? "?"} s, load ${readFileSync("/proc/loadavg", "utf8").trim()}`;
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/**
 * iperf3's receiving rate as the probe times its own: from the end of the first quarter of the
 * bytes to the end. iperf3 3.16 and later end an -n transfer at the next report tick (3.22 here
 * says 1.0 s for 64 MiB that took 0.1 s at the default -i 1), so with -i 0.1 the last, stretched,
 * interval is left out too and only whole 0.1 s intervals count.
 */
function iperfRate(json: string, bytes: number): number {
  const parsed = JSON.parse(json) as {
    intervals?: { sum: { bytes: number; seconds: number } }[];
    error?: string;
  };
  if (parsed.error) throw new Error(`iperf3: ${parsed.error}`);
  const intervals = (parsed.intervals ?? []).slice(0, -1);
  let seen = 0;
  let timedBytes = 0;
  let seconds = 0;
  for (const { sum } of intervals) {
    if (seen >= bytes / 4) {
      timedBytes += sum.bytes;
      seconds += sum.seconds;
    }
    seen += sum.bytes;
  }
  if (seconds < 0.25)
    throw new Error(`iperf3's transfer had ${seconds} s of whole intervals to time: too short`);
  return timedBytes / seconds;
}

function argvOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
}

describe.each(debians)("$name", (debian) => {
  describe.skipIf(requireOnCi(debian.missing))(
    withReason(
      `the exporter on rootless Docker ${debian.docker} in ${debian.name}`,
      debian.missing,
    ),
    () => {
      let box: TrixieContainer;
      const u = () => `user="${box.user.name}"`;
      /** rootlesskit's flags for dockerd-rootless.sh: Docker's defaults on a private network. */
      const envOf = (ring: Ring): Record<string, string> =>
        debian.privateNetwork
          ? ring.env
          : { ...ring.env, DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK: "false" };
      /** /metrics, scraped from inside the container when it has a network of its own. */
      const soon = (
        exporter: RunningDaemon,
        what: string,
        check: (body: string) => boolean,
        timeoutMs: number,
      ) =>
        debian.privateNetwork
          ? expectSoonInside(box, exporter, what, check, timeoutMs)
          : expectSoon(exporter, what, check, timeoutMs);
      /** A page of the container's network namespace (or the host's, which it then shares). */
      const page = async (url: string): Promise<{ ok: boolean; text: string }> => {
        if (!debian.privateNetwork) {
          const answer = await fetch(url);
          return { ok: answer.ok, text: await answer.text() };
        }
        const { body, status } = await fetchInside(box, url);
        return { ok: status === 200, text: body };
      };

      const startExporter = (
        runtimeDir: string,
        extra: readonly string[] = [],
        /** A prefix for node, e.g. taskset's: the exporter and the agents it starts inherit it. */
        prefix: readonly string[] = [],
      ) =>
        startDaemon(
          [
            "--collect.interval=1s",
            "--collect.rpc-timeout=500ms",
            "--collect.timeout=5s",
            "--log.level=debug",
            ...extra,
          ],
          {
            wrapper: [...box.asUser({ XDG_RUNTIME_DIR: runtimeDir }), ...prefix],
            node: "/usr/bin/node",
            main: `${inside}/dist/main.js`,
          },
        );

      async function info(docker: ContainerDocker, stateDir: string): Promise<RootlesskitInfo> {
        const answer = await unixHttp(box.path(`${stateDir}/api.sock`), "/v1/info", {
          timeoutMs: 2000,
        });
        const parsed = answer.ok ? parseInfo(parseJson(answer.body)) : undefined;
        if (!parsed) throw new Error(`api.sock of ${docker.pid} did not answer /v1/info`);
        return parsed;
      }

      beforeAll(async () => {
        // The built dist with its production node_modules (scripts/test-all.sh stages them), read-only.
        const stage = dirname(dirname(builtMain));
        box = await startTrixie(
          debian.root ?? "",
          trixieUserName,
          [{ host: stage, inside }],
          debian.privateNetwork,
          debian.docker >= 28,
        );
        if (debian.privateNetwork) await addHostNetwork(box);
        // An image from a busybox rootfs (no registry is reachable), on the container's /tmp.
        mkdirSync(box.path("/tmp/e2e"));
        await makeBusyboxTar(box.path("/tmp/e2e"));
      }, 60_000);

      afterAll(async () => {
        await box?.stop();
      }, 60_000);

      describe.each(rings)("$driver on rootlesskit 2", (ring) => {
        let docker: ContainerDocker;
        let exporter: RunningDaemon;
        const stateDir = () => `${docker.runtimeDir}/dockerd-rootless`;

        beforeAll(async () => {
          // A clean data root: each ring (and an earlier run that died) would see the other's containers.
          await box.exec(["rm", "-rf", `${box.user.home}/.local/share/docker`]);
          docker = await startContainerDocker(box, envOf(ring));
          await docker.docker("import", "/tmp/e2e/busybox.tar", "busybox:local");
          exporter = await startExporter(docker.runtimeDir);
        }, 180_000);

        afterAll(async () => {
          await exporter?.stop();
          await docker?.stop();
        }, 60_000);

        it("reports rootlesskit, dockerd and the driver as api.sock, /proc and Docker say", async () => {
          const { body } = await soon(
            exporter,
            "daemon up",
            (b) =>
              valueOf(b, `rootless_dockerd_up{${u()}}`) === 1 &&
              valueOf(b, `rootless_rootlesskit_api_up{${u()}}`) === 1 &&
              [
                "rootless_docker_info{",
                "rootless_rootlesskit_info{",
                "rootless_network_mtu",
                "rootless_userns_mapped_ids{",
              ].every((name) => b.includes(name)),
            30_000,
          );
          const api = await info(docker, stateDir());
          expect(api.version).toMatch(/^2\./);
          expect(api.networkDriver?.driver).toBe(ring.driver);
          expect(api.portDriver?.driver ?? "").toBe(ring.portDriver);
          expect(body).toContain(
            `rootless_rootlesskit_info{${u()},version="${api.version}",api_version="${api.apiVersion}",network_driver="${ring.driver}",port_driver="${ring.portDriver}",state_dir="${stateDir()}"} 1`,
          );
          expect(valueOf(body, `rootless_rootlesskit_up{${u()}}`)).toBe(1);
          expect(valueOf(body, `rootless_rootlesskit_state_dir_stale{${u()}}`)).toBe(0);
          // The implicit port driver has no ports API: no forward count, rather than a false 0.
          expect(valueOf(body, `rootless_rootlesskit_ports{${u()},proto="tcp"}`)).toBe(
            ring.portDriver === "" ? undefined : 0,
          );
          const version = (
            await docker.docker("version", "--format", "{{.Server.Version}}")
          ).trim();
          expect(version).toMatch(new RegExp(`^${debian.docker}\\.`));
          expect(body).toContain(
            `rootless_docker_info{${u()},version="${version}",storage_driver="vfs",`,
          );
          expect(valueOf(body, `rootless_docker_api_up{${u()}}`)).toBe(1);
          // The driver's own --mtu, as /proc shows its arguments.
          const driver = driverProcess(docker, ring.driver);
          expect(driver).toBeDefined();
          // pasta says --mtu=1500, slirp4netns --mtu 65520.
          const argv = argvOf(driver ?? -1);
          const at = argv.findIndex((a) => a.startsWith("--mtu"));
          const mtu = Number(argv[at]?.split("=")[1] ?? argv[at + 1]);
          expect(valueOf(body, `rootless_network_mtu{${u()}}`)).toBe(mtu);
          expect(valueOf(body, `rootless_network_driver_up{${u()},driver="${ring.driver}"}`)).toBe(
            1,
          );
          const child = box.hostPid(api.childPid ?? -1) ?? -1;
          const mapped = readFileSync(`/proc/${child}/uid_map`, "utf8")
            .trim()
            .split("\n")
            .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[2]), 0);
          expect(valueOf(body, `rootless_userns_mapped_ids{${u()},kind="uid"}`)).toBe(mapped);
          // Run by the distribution's Node, not the host's.
          const node = (await box.exec(["/usr/bin/node", "--version"])).trim();
          expect(body).toMatch(
            new RegExp(`rootless_exporter_build_info\\{[^}]*nodejs_version="${node}"`),
          );
        });

        it("a docker run -p port answers on the host, and its traffic is counted", async () => {
          const port = ring.driver === "pasta" ? 18481 : 18482;
          const web = `web-${ring.driver}-${process.pid}`;
          try {
            await docker.docker(
              "run",
              "-d",
              "--name",
              web,
              "-p",
              // pasta (2025-05-03, under rootlesskit 2.0.2) hands a host-loopback client to the
              // namespace's 10.0.2.100, where a port published on 127.0.0.1 does not listen: such a
              // port answers the host with an empty reply. Published on all addresses it works.
              ring.driver === "pasta" ? `${port}:8080` : `127.0.0.1:${port}:8080`,
              "busybox:local",
              "httpd",
              "-f",
              "-p",
              "8080",
              "-h",
              "/www",
            );
            // Every device of the namespace: the builtin driver's traffic shows on lo; pasta's, after
            // Docker's DNAT, on docker0 and the container's veth, and on neither lo nor tap0.
            const received = (b: string) =>
              seriesLines(b)
                .filter((l) => l.startsWith(`rootless_network_receive_bytes_total{${u()},`))
                .reduce((sum, l) => sum + Number(l.split(" ")[1]), 0);
            const before = await soon(
              exporter,
              "one running container",
              (b) => valueOf(b, `rootless_docker_containers{${u()},state="running"}`) === 1,
              30_000,
            );
            // pasta takes the port on the host within a second of docker-proxy listening in the namespace.
            let fetched = 0;
            await waitFor(
              "the port to answer on the host",
              () =>
                page(`http://127.0.0.1:${port}/`).then(
                  (r) => r.ok,
                  () => false,
                ),
              10_000,
            );
            for (let i = 0; i < 20; i++)
              fetched += (await page(`http://127.0.0.1:${port}/`)).text.length;
            expect(fetched).toBe(20 * 3200);
            const start = received(before.body);
            await soon(
              exporter,
              "the namespace's counters to move",
              (b) => received(b) >= start + fetched,
              withinOneInterval,
            );
          } finally {
            await docker.docker("rm", "-f", web).catch(() => "");
          }
        }, 90_000);

        it("the probe measures both paths through the driver", async () => {
          const probe = await startExporter(docker.runtimeDir, [
            "--collector.disable-defaults",
            "--collector.probe",
            "--probe.bytes=16MiB",
            "--probe.timeout=10s",
          ]);
          try {
            const { body } = await soon(
              probe,
              "both paths probed",
              (b) => valueOf(b, `rootless_probe_success{${u()},path="network"}`) !== undefined,
              40_000,
            );
            const why = [
              ...body.split("\n").filter((l) => l.startsWith("rootless_probe_")),
              ...probe.logs.filter((l) => l.includes("probe")).slice(-5),
            ].join("\n");
            for (const path of ["port", "network"]) {
              expect(valueOf(body, `rootless_probe_success{${u()},path="${path}"}`), why).toBe(1);
              expect(
                valueOf(body, `rootless_probe_throughput_bytes_per_second{${u()},path="${path}"}`),
              ).toBeGreaterThan(1e6);
            }
            // Measured on loopback: pasta shows a loopback client as the namespace's own address,
            // rootlesskit's builtin driver as 127.0.0.1; neither is the client's 127.0.0.2.
            expect(valueOf(body, `rootless_probe_source_ip_propagated{${u()}}`)).toBe(0);
            // Docker's defaults: no host loopback, and the network path found the host's address
            // itself; with the host loopback let in, it went to the gateway.
            expect(argvOf(docker.pid).includes("--disable-host-loopback")).toBe(
              debian.privateNetwork,
            );
            expect(
              probe.logs.find((l) => l.includes("probe finished")),
              why,
            ).toContain(debian.privateNetwork ? `to ${hostAddress} (host)` : "(gateway)");
          } finally {
            await probe.stop();
          }
          await waitFor(
            "no agent left",
            () =>
              box.pids().every((p) => {
                try {
                  return !argvOf(p).some((a) => a.includes("probe-agent"));
                } catch {
                  return true;
                }
              }),
            10_000,
          );
        }, 60_000);

        // issue 21: the probe against iperf3 on the same two paths, as bench/probe.mjs compares
        // them: the port path with the server in rootlesskit's namespace sending (-R) through the
        // forward to a client on the host's loopback, the network path with the host (198.18.0.1)
        // sending to a client in the namespace. Same bytes for both tools; both time the receiver
        // and leave out the first quarter (see iperfRate); five rounds each, each probe run next to
        // its iperf3 run, medians. The network driver and every process of either tool run on one
        // CPU (taskset; the driver gets all CPUs back after): on slirp4netns's network path the
        // receiver on slirp4netns's CPU or not is worth 2x, and left to the scheduler each tool drew
        // its own placement per run (the probe read 0.75-1.50x iperf3 over eight unpinned runs,
        // mostly above; docs/performance.md, "Where the scheduler puts the receiver"). Pinned, the
        // probe reads about 0.8x iperf3 there (its node receiver spends twice iperf3's CPU per byte
        // on the CPU slirp4netns needs) and 0.95-1.07x on the other three paths. 20 % is printed for
        // each path; the test fails outside 0.6-1.5x (a probe that mistimes its transfer or
        // measures another path would), leaving room for a whole run that other sessions slow.
        it.runIf(debian.privateNetwork)(
          "the probe agrees with iperf3 on each path (within 0.6-1.5x, 20 % printed)",
          async () => {
            const api = await info(docker, stateDir());
            const child = String(api.childPid ?? -1);
            // One CPU for the network driver and every process of either tool (see above).
            const cpus = availableParallelism();
            const cpu = String(cpus - 1);
            const pinned = ["taskset", "-c", cpu];
            const driverPid = driverProcess(docker, ring.driver);
            expect(driverPid, `${ring.driver} among rootlesskit's processes`).toBeDefined();
            const pinDriver = (list: string) =>
              run("taskset", ["-a", "-p", "-c", list, String(driverPid)], { timeout: 5000 });
            await pinDriver(cpu);
            try {
              const inNamespace = [
                ...box.asUser({}),
                ...pinned,
                "nsenter",
                "-U",
                "--preserve-credentials",
                "-n",
                "-t",
                child,
              ];
              /**
               * One probe run of `bytes` per path. With `portOnly`, the network path is pointed at
               * an address this host does not have (198.18.0.77): it fails at once, and a run sized
               * for a fast port path does not wait on a slow network path.
               */
              const probeOnce = async (bytes: number, portOnly = false) => {
                const probe = await startExporter(
                  docker.runtimeDir,
                  [
                    "--collector.disable-defaults",
                    "--collector.probe",
                    `--probe.bytes=${bytes}`,
                    "--probe.timeout=10s",
                    ...(portOnly ? ["--probe.network-target=198.18.0.77"] : []),
                  ],
                  pinned,
                );
                try {
                  const { body } = await soon(
                    probe,
                    "both paths probed",
                    (b) =>
                      valueOf(b, `rootless_probe_success{${u()},path="network"}`) !== undefined,
                    150_000,
                  );
                  const rate = (path: ProbePath) => {
                    const why = probe.logs.filter((l) => l.includes("probe")).slice(-3);
                    expect(
                      valueOf(body, `rootless_probe_success{${u()},path="${path}"}`),
                      why.join("\n"),
                    ).toBe(1);
                    return (
                      valueOf(
                        body,
                        `rootless_probe_throughput_bytes_per_second{${u()},path="${path}"}`,
                      ) ?? NaN
                    );
                  };
                  return { port: rate("port"), network: portOnly ? NaN : rate("network") };
                } finally {
                  await probe.stop();
                }
              };
              /** An iperf3 server (-s -1) started by `argv`, once it listens. */
              const iperfServer = async (argv: readonly string[]) => {
                const server = spawn(argv[0] ?? "nsenter", argv.slice(1), {
                  stdio: ["ignore", "pipe", "pipe"],
                });
                let said = "";
                server.stdout?.on("data", (c: Buffer) => (said += c.toString()));
                server.stderr?.on("data", (c: Buffer) => (said += c.toString()));
                await waitFor("iperf3 -s to listen", () => {
                  if (server.exitCode !== null) throw new Error(`iperf3 -s exited: ${said}`);
                  return said.includes("listening");
                });
                return server;
              };
              const iperfArgs = (host: string, port: number, bytes: number) => [
                "iperf3",
                "-c",
                host,
                "-p",
                String(port),
                "-n",
                String(bytes),
                "-R",
                "-J",
                "-i",
                "0.1",
                // A stalled transfer (see below) ends in 5 s rather than at the test's timeout.
                "--rcv-timeout",
                "5000",
              ];
              const server = (port: number) => [
                ...inNamespace,
                "iperf3",
                "-s",
                "-1",
                "--forceflush",
                // IPv4 only: pasta's forward and listensOn are about 127.0.0.1.
                "-B",
                "0.0.0.0",
                "-p",
                String(port),
              ];
              const iperfPort = async (bytes: number, round: number): Promise<number> => {
                const childPort = 15301 + round;
                const listening = await iperfServer(server(childPort));
                let forward: number | undefined;
                const socket = box.path(`${stateDir()}/api.sock`);
                try {
                  let parentPort = childPort;
                  if (ring.portDriver === "") {
                    // pasta's implicit driver takes the same port on the host within a second.
                    await waitFor("pasta to forward the port", () =>
                      listensOn(defaultRoots, docker.pid, childPort, box.user.uid),
                    );
                  } else {
                    parentPort = 25301 + round;
                    const body = JSON.stringify({
                      proto: "tcp",
                      parentIP: "127.0.0.1",
                      parentPort,
                      childPort,
                    });
                    const created = await unixHttp(socket, "/v1/ports", {
                      method: "POST",
                      body,
                      timeoutMs: 2000,
                    });
                    forward = created.ok
                      ? (parseJson(created.body) as { id?: number } | undefined)?.id
                      : undefined;
                    expect(forward, created.ok ? created.body : created.detail).toBeTypeOf(
                      "number",
                    );
                  }
                  const out = await box.exec(
                    [...pinned, ...iperfArgs("127.0.0.1", parentPort, bytes)],
                    120_000,
                  );
                  return iperfRate(out, bytes);
                } finally {
                  if (forward !== undefined)
                    await unixHttp(socket, `/v1/ports/${forward}`, {
                      method: "DELETE",
                      timeoutMs: 2000,
                    });
                  listening.kill("SIGKILL");
                }
              };
              const iperfNetwork = async (bytes: number, round: number): Promise<number> => {
                const port = 25401 + round;
                const listening = await iperfServer([
                  ...pinned,
                  "nsenter",
                  "-t",
                  String(box.leader),
                  "-a",
                  "iperf3",
                  "-s",
                  "-1",
                  "--forceflush",
                  "-B",
                  hostAddress,
                  "-p",
                  String(port),
                ]);
                try {
                  const argv = [...inNamespace, ...iperfArgs(hostAddress, port, bytes)];
                  const { stdout } = await run(argv[0] ?? "nsenter", argv.slice(1), {
                    timeout: 120_000,
                    maxBuffer: 1 << 24,
                  });
                  return iperfRate(stdout, bytes);
                } finally {
                  listening.kill("SIGKILL");
                }
              };
              // pasta (passt 2026-10-02, MTU 65520) stalls about one host-to-namespace transfer of
              // 2 GiB in eight, for iperf3 as for the probe: it stops reading its socket on the
              // host's side with tens of MB queued (docs/performance.md). A failed run of either
              // tool is printed and run again, four times in all at most; a fifth fails the test.
              const failed: string[] = [];
              const again = async <T>(what: string, measure: () => Promise<T>): Promise<T> => {
                for (;;) {
                  try {
                    return await measure();
                  } catch (err) {
                    if (failed.length >= 4) throw err;
                    const e = err as { message?: string; stdout?: string };
                    const lines = `${e.message ?? String(err)}\n${e.stdout ?? ""}`.split("\n");
                    const line =
                      lines.find((l) => l.includes("probe finished") || l.includes('"error"')) ??
                      lines[0] ??
                      "";
                    failed.push(`${what}: ${line.trim().slice(0, 400)}`);
                  }
                }
              };
              // One probe of 64 MiB sizes each path's transfers to about 1 s (ten of iperf3's
              // 0.1 s intervals), within 16 MiB-2 GiB: a driver's two paths may differ tenfold.
              const first = await again("probe", () => probeOnce(64 * 1024 * 1024));
              const mib = 1024 * 1024;
              const sized = (rate: number) =>
                mib * Math.round(Math.min(2048, Math.max(16, rate / mib)));
              const bytes: Record<ProbePath, number> = {
                port: sized(first.port),
                network: sized(first.network),
              };
              const rounds = 5;
              const probed: Record<ProbePath, number[]> = { port: [], network: [] };
              const iperf: Record<ProbePath, number[]> = { port: [], network: [] };
              for (let round = 0; round < rounds; round++) {
                const both = await again("probe", () => probeOnce(bytes.network));
                probed.network.push(both.network);
                iperf.network.push(
                  await again("iperf3 network", () => iperfNetwork(bytes.network, round)),
                );
                // Sized alike (both capped, as seen here), one probe run serves both paths.
                probed.port.push(
                  bytes.port === bytes.network
                    ? both.port
                    : (await again("probe port", () => probeOnce(bytes.port, true))).port,
                );
                iperf.port.push(await again("iperf3 port", () => iperfPort(bytes.port, round)));
              }
              const mb = (xs: number[]) => xs.map((x) => (x / 1e6).toFixed(0)).join(" ");
              const rows = (["port", "network"] as const).map((path) => ({
                path,
                ratio: median(probed[path]) / median(iperf[path]),
                line: `${ring.driver} ${path}, ${bytes[path] / mib} MiB: probe ${mb(probed[path])} MB/s, iperf3 ${mb(iperf[path])} MB/s; medians ${mb([median(probed[path])])} / ${mb([median(iperf[path])])} = ${(median(probed[path]) / median(iperf[path])).toFixed(2)} (${Math.abs(median(probed[path]) / median(iperf[path]) - 1) <= 0.2 ? "within" : "NOT within"} 20 %)`,
              }));
              const table = `${rounds} rounds each, alternated, ${ring.driver} and both tools on CPU ${cpu}; load ${readFileSync("/proc/loadavg", "utf8").trim()}\n${rows.map((r) => r.line).join("\n")}${failed.map((f) => `\nrun again after ${f}`).join("")}`;
              console.log(table);
              for (const row of rows) {
                expect(row.ratio, table).toBeGreaterThanOrEqual(0.6);
                expect(row.ratio, table).toBeLessThanOrEqual(1.5);
              }
            } finally {
              await pinDriver(`0-${cpus - 1}`);
            }
          },
          600_000,
        );

        it("an api.sock that accepts and never answers: api down, /metrics still fast", async () => {
          const socket = box.path(`${stateDir()}/api.sock`);
          renameSync(socket, `${socket}.real`);
          const held: Socket[] = [];
          const server = createServer((conn) => void held.push(conn));
          await new Promise<void>((resolve) => server.listen(socket, resolve));
          chmodSync(socket, 0o777);
          try {
            const seen = await soon(
              exporter,
              "api_up 0",
              (b) => valueOf(b, `rootless_rootlesskit_api_up{${u()}}`) === 0,
              withinOneInterval,
            );
            expect(seen.slowestScrapeMs, loopLag(seen.body)).toBeLessThan(250);
            expect(valueOf(seen.body, `rootless_rootlesskit_up{${u()}}`)).toBe(1);
            expect(held.length).toBeGreaterThan(0);
          } finally {
            for (const conn of held) conn.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
            rmSync(socket, { force: true });
            renameSync(`${socket}.real`, socket);
          }
          await soon(
            exporter,
            "api_up 1 again",
            (b) => valueOf(b, `rootless_rootlesskit_api_up{${u()}}`) === 1,
            withinOneInterval,
          );
        });

        it(`${ring.driver} killed: network driver down`, async () => {
          const driver = driverProcess(docker, ring.driver);
          expect(driver).toBeDefined();
          process.kill(driver ?? -1, "SIGKILL");
          const seen = await soon(
            exporter,
            "driver down",
            (b) => valueOf(b, `rootless_network_driver_up{${u()},driver="${ring.driver}"}`) === 0,
            withinOneInterval,
          );
          expect(seen.slowestScrapeMs, loopLag(seen.body)).toBeLessThan(250);
        });

        it("rootlesskit SIGKILLed: down, and its state dir reported stale", async () => {
          const tree = docker.processTree();
          process.kill(docker.pid, "SIGKILL");
          try {
            const seen = await soon(
              exporter,
              "stale state dir",
              (b) =>
                valueOf(b, `rootless_rootlesskit_up{${u()}}`) === 0 &&
                valueOf(b, `rootless_rootlesskit_state_dir_stale{${u()}}`) === 1,
              withinOneInterval,
            );
            expect(valueOf(seen.body, `rootless_rootlesskit_api_up{${u()}}`)).toBe(0);
            expect(seen.slowestScrapeMs, loopLag(seen.body)).toBeLessThan(250);
          } finally {
            for (const pid of tree) killIfAlive(pid, "SIGKILL");
          }
        });

        it("dockerd stopped: dockerd and its API down", async () => {
          await exporter.stop();
          await docker.stop();
          docker = await startContainerDocker(box, envOf(ring));
          exporter = await startExporter(docker.runtimeDir);
          await soon(
            exporter,
            "dockerd up",
            (b) => valueOf(b, `rootless_dockerd_up{${u()}}`) === 1,
            30_000,
          );
          const inner = Number(readFileSync(box.path(`${docker.runtimeDir}/docker.pid`), "utf8"));
          const dockerd = box.hostPid(inner) ?? -1;
          expect(readFileSync(`/proc/${dockerd}/comm`, "utf8").trim()).toBe("dockerd");
          process.kill(dockerd, "SIGTERM");
          await waitFor("dockerd to exit", () => !alive(dockerd), 30_000);
          const seen = await soon(
            exporter,
            "dockerd down",
            (b) =>
              valueOf(b, `rootless_dockerd_up{${u()}}`) === 0 &&
              valueOf(b, `rootless_docker_api_up{${u()}}`) === 0,
            withinOneInterval,
          );
          expect(seen.slowestScrapeMs, loopLag(seen.body)).toBeLessThan(250);
        }, 180_000);

        // issue 21: a daemon that comes back between two cycles looks healthy at every cycle.
        it("the daemon started again where the exporter watches: each restart counter +1", async () => {
          const { body: before } = await soon(
            exporter,
            "counters reported",
            (b) => valueOf(b, `rootless_rootlesskit_restarts_total{${u()}}`) !== undefined,
            30_000,
          );
          expect([
            valueOf(before, `rootless_rootlesskit_restarts_total{${u()}}`),
            valueOf(before, `rootless_dockerd_restarts_total{${u()}}`),
          ]).toEqual([0, 0]);
          await docker.stop();
          docker = await startContainerDocker(box, envOf(ring), docker.runtimeDir);
          const { body } = await soon(
            exporter,
            "both restarts counted",
            (b) =>
              valueOf(b, `rootless_dockerd_up{${u()}}`) === 1 &&
              valueOf(b, `rootless_dockerd_restarts_total{${u()}}`) === 1,
            30_000,
          );
          expect(valueOf(body, `rootless_rootlesskit_restarts_total{${u()}}`)).toBe(1);
        }, 120_000);
      });
    },
  );
});

// The guide's table says pasta propagates source IPs; a loopback client cannot show it (the probe
// sees the namespace's own address). So a client on another network namespace, joined by a veth
// pair, connects through pasta's implicit forward. All of it inside a container with a network
// namespace of its own: addresses from the benchmarking range 198.18.0.0/15 (RFC 2544), no
// interface or address added to the host's namespace.
// The root cause fails once on CI, in the block above.
describe.skipIf(missing !== undefined)(
  withReason("pasta's implicit port driver and a client's source address", missing),
  () => {
    let box: TrixieContainer;
    let kit: ChildProcess | undefined;
    const runtimeDir = "/run/rlx-source-ip";
    const clientNs = "/run/netns/rlx-client";

    beforeAll(async () => {
      const stage = dirname(dirname(builtMain));
      box = await startTrixie(trixieRoot ?? "", trixieUserName, [{ host: stage, inside }], true);
      for (const argv of [
        ["ip", "link", "set", "lo", "up"],
        ["ip", "netns", "add", "rlx-client"],
        ["ip", "link", "add", "rlx-server", "type", "veth", "peer", "name", "rlx-client"],
        ["ip", "link", "set", "rlx-client", "netns", "rlx-client"],
        ["ip", "addr", "add", "198.18.0.1/24", "dev", "rlx-server"],
        ["ip", "link", "set", "rlx-server", "up"],
        // pasta needs a default route to pick its template interface.
        ["ip", "route", "add", "default", "via", "198.18.0.2"],
        ["nsenter", `--net=${clientNs}`, "ip", "addr", "add", "198.18.0.2/24", "dev", "rlx-client"],
        ["nsenter", `--net=${clientNs}`, "ip", "link", "set", "rlx-client", "up"],
        ["nsenter", `--net=${clientNs}`, "ip", "link", "set", "lo", "up"],
        ["install", "-d", "-m", "0700", "-o", String(box.user.uid), runtimeDir],
      ])
        await box.exec(argv);
      const argv = [
        ...box.asUser({ XDG_RUNTIME_DIR: runtimeDir }),
        "rootlesskit",
        "--net=pasta",
        "--mtu=65520",
        "--port-driver=implicit",
        "--disable-host-loopback",
        `--state-dir=${runtimeDir}/kit`,
        "sleep",
        "600",
      ];
      kit = spawn(argv[0] ?? "nsenter", argv.slice(1), { stdio: "ignore", detached: true });
      await waitFor("rootlesskit's child_pid", () =>
        existsSync(box.path(`${runtimeDir}/kit/child_pid`)),
      );
    }, 60_000);

    afterAll(async () => {
      if (kit?.pid)
        for (const pid of [kit.pid, ...descendants(kit.pid)]) killIfAlive(pid, "SIGKILL");
      await box?.stop();
    }, 60_000);

    /** Serves through pasta's forward of `port` and returns the address the namespace saw. */
    async function peerSeenFrom(port: number, client: readonly string[]): Promise<string> {
      const child = Number(readFileSync(box.path(`${runtimeDir}/kit/child_pid`), "utf8"));
      const argv = [
        ...box.asUser({}),
        "nsenter",
        "-U",
        "--preserve-credentials",
        "-n",
        "-t",
        String(child),
        "/usr/bin/node",
        `${inside}/dist/probe-agent.js`,
        "serve-at",
        String(port),
        // Little: through the veth pair one MiB took 2-9 s here (not investigated: the peer is the point).
        String(1024 * 1024),
        "15000",
      ];
      const agent = spawn(argv[0] ?? "nsenter", argv.slice(1), {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      agent.stdout?.on("data", (c: Buffer) => (out += c.toString()));
      try {
        const rootlesskit = descendants(kit?.pid ?? -1).find(
          (p) => readFileSync(`/proc/${p}/comm`, "utf8").trim() === "rootlesskit",
        );
        await waitFor(
          "pasta to forward the port",
          () => listensOn(defaultRoots, rootlesskit ?? -1, port, box.user.uid),
          10_000,
        );
        await box.exec(client, 20_000);

        await waitFor("the agent's report", () => out.split("\n").length > 2, 10_000);
        return (JSON.parse(out.split("\n")[1] ?? "{}") as { peer?: string }).peer ?? "";
      } finally {
        agent.kill("SIGKILL");
      }
    }

    const fetchFrom = (host: string, port: number, from?: string) => [
      "/usr/bin/node",
      "--input-type=module",
      "-e",
      `import { fetchOnce } from "${inside}/dist/host/tcp-probe.js";
       const [host, port, from] = process.argv.slice(1);
       await fetchOnce(host, Number(port), 1024 * 1024, 15000, from || undefined);`,
      host,
      String(port),
      from ?? "",
    ];

    it("a client on another network namespace: its own address reaches the namespace", async () => {
      const peer = await peerSeenFrom(24601, [
        "nsenter",
        `--net=${clientNs}`,
        ...fetchFrom("198.18.0.1", 24601),
      ]);
      expect(peer).toBe("198.18.0.2");
    }, 60_000);

    it("a client on the loopback: seen as the namespace's own address, so the probe cannot tell", async () => {
      const peer = await peerSeenFrom(24602, fetchFrom("127.0.0.1", 24602, "127.0.0.2"));
      expect(peer).not.toBe("127.0.0.2");
      expect(peer).toBe("10.0.2.100");
    });
  },
);
