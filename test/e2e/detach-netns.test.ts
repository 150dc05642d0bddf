import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { parseNetDev } from "../../src/host/proc-files.js";
import { parseJson, unixHttp } from "../../src/host/unix-http.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, seriesLines, startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon } from "../helpers/expect-soon.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";
import { alive, descendants, killIfAlive, waitFor } from "../helpers/rootless-docker.js";
import type { TrixieContainer } from "../helpers/trixie.js";
import { sidRoot, startTrixie, trixieMissing, trixieUserName } from "../helpers/trixie.js";
import { addHostNetwork, hostAddress, scrapeInside } from "../helpers/trixie-net.js";

const run = promisify(execFile);

// The detach-netns ring (issue 21): no dockerd packaged here runs RootlessKit 2's --detach-netns
// (Docker 29.5 is the first), so it is run as rootlesskit's own hack/benchmark-iperf3-*.sh do:
// RootlessKit 2.0.2 from Debian unstable with --detach-netns, whose child serves from inside the
// detached namespace (`nsenter -n$STATE_DIR/netns busybox httpd`), behind a real port forward, on
// slirp4netns (builtin port driver) and on pasta (implicit). Traffic goes only to the host's
// loopback and to that namespace.
const missing = trixieMissing(sidRoot, "ROOTLESS_TEST_SID_ROOT");
const inside = "/opt/rootless-exporter";
const interval = 1000;
const withinOneInterval = 3 * interval + 2000;
const page = "x".repeat(3200);

interface Ring {
  readonly driver: "slirp4netns" | "pasta";
  readonly portDriver: "builtin" | "implicit";
  /** The port on the host's loopback, forwarded to the child's httpd in the detached namespace. */
  readonly port: number;
}

const rings: Ring[] = [
  { driver: "slirp4netns", portDriver: "builtin", port: 18591 },
  { driver: "pasta", portDriver: "implicit", port: 18592 },
];

/** Bytes sent on all the namespace's devices, as /metrics says. */
function transmitted(body: string, user: string): number {
  return seriesLines(body)
    .filter((l) => l.startsWith(`rootless_network_transmit_bytes_total{user="${user}",`))
    .reduce((sum, l) => sum + Number(l.split(" ")[1]), 0);
}

describe.skipIf(requireOnCi(missing))(
  withReason("RootlessKit 2.0.2 with --detach-netns (Debian unstable)", missing),
  () => {
    let box: TrixieContainer;
    const u = () => `user="${box.user.name}"`;
    let starts = 0;

    beforeAll(async () => {
      const stage = dirname(dirname(builtMain));
      box = await startTrixie(sidRoot ?? "", trixieUserName, [{ host: stage, inside }]);
      mkdirSync(box.path("/tmp/www"), { recursive: true });
      writeFileSync(box.path("/tmp/www/index.html"), page);
      await box.exec(["chmod", "-R", "a+rX", "/tmp/www"]);
    }, 60_000);

    afterAll(async () => {
      await box?.stop();
    }, 60_000);

    const startExporter = (runtimeDir: string, extra: readonly string[] = []) =>
      startDaemon(
        [
          "--collect.interval=1s",
          "--collect.rpc-timeout=500ms",
          "--collect.timeout=5s",
          "--log.level=debug",
          ...extra,
        ],
        {
          wrapper: box.asUser({ XDG_RUNTIME_DIR: runtimeDir }),
          node: "/usr/bin/node",
          main: `${inside}/dist/main.js`,
        },
      );

    describe.each(rings)("$driver, $portDriver port driver", (ring) => {
      let kit: ChildProcess;
      let log = "";
      let runtimeDir = "";
      let stateDir = "";
      let exporter: RunningDaemon;
      /** The rootlesskit child's pid inside the container. */
      let childPid = 0;
      /** The detached namespace's own /proc/net/dev, read as root from the host. */
      const netDev = async () => {
        const child = box.hostPid(childPid) ?? -1;
        const { stdout } = await run(
          "nsenter",
          [`--net=/proc/${child}/root${stateDir}/netns`, "cat", "/proc/self/net/dev"],
          { timeout: 5000 },
        );
        return parseNetDev(stdout);
      };

      beforeAll(async () => {
        runtimeDir = `/run/rlx-detach-${process.pid}-${++starts}`;
        stateDir = `${runtimeDir}/rk`;
        const { uid } = box.user;
        await box.exec(["install", "-d", "-m", "0700", "-o", String(uid), runtimeDir]);
        const argv = [
          ...box.asUser({ XDG_RUNTIME_DIR: runtimeDir }),
          "rootlesskit",
          `--state-dir=${stateDir}`,
          `--net=${ring.driver}`,
          "--mtu=65520",
          `--port-driver=${ring.portDriver}`,
          ...(ring.portDriver === "builtin" ? [`--publish=127.0.0.1:${ring.port}:8080/tcp`] : []),
          "--detach-netns",
          // The child stays in the host's network namespace: its server enters the detached one.
          "nsenter",
          `-n${stateDir}/netns`,
          "busybox",
          "httpd",
          "-f",
          "-p",
          ring.portDriver === "builtin" ? "8080" : String(ring.port),
          "-h",
          "/tmp/www",
        ];
        kit = spawn(argv[0] ?? "nsenter", argv.slice(1), {
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        });
        kit.stdout?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
        kit.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
        await waitFor(
          "the forwarded port to answer",
          async () => {
            if (kit.exitCode !== null)
              throw new Error(`rootlesskit exited ${kit.exitCode}:\n${log}`);
            return fetch(`http://127.0.0.1:${ring.port}/`).then(
              (r) => r.ok,
              () => false,
            );
          },
          30_000,
        );
        const answer = await unixHttp(box.path(`${stateDir}/api.sock`), "/v1/info", {
          timeoutMs: 2000,
        });
        const info = answer.ok ? parseInfo(parseJson(answer.body)) : undefined;
        childPid = info?.childPid ?? 0;
        expect(info?.version).toBe("2.0.2");
        exporter = await startExporter(runtimeDir);
      }, 60_000);

      afterAll(async () => {
        await exporter?.stop();
        const tree = descendants(kit?.pid ?? -1);
        for (const pid of tree) killIfAlive(pid, "SIGTERM");
        await waitFor("rootlesskit to exit", () => tree.every((p) => !alive(p)), 10_000).catch(
          () => {
            for (const pid of tree) killIfAlive(pid, "SIGKILL");
          },
        );
        await box.exec(["rm", "-rf", runtimeDir]).catch(() => "");
      }, 30_000);

      it("reports detach-netns, and the detached namespace's devices and MTU, not the host's", async () => {
        const { body } = await expectSoon(
          exporter,
          "detach-netns and the namespace's counters",
          (b) =>
            valueOf(b, `rootless_rootlesskit_detach_netns{${u()}}`) === 1 &&
            b.includes(`rootless_network_receive_bytes_total{${u()},device="tap0"}`),
          30_000,
        );
        const inNetns = (await netDev()).map((i) => i.device).sort();
        const reported = seriesLines(body)
          .filter((l) => l.startsWith(`rootless_network_receive_bytes_total{${u()},`))
          .map((l) => /device="([^"]+)"/.exec(l)?.[1] ?? "")
          .sort();
        expect(reported).toEqual(inNetns);
        // The host's network namespace (the container shares it): none of its devices but lo.
        const hostDevices = parseNetDev(readFileSync("/proc/self/net/dev", "utf8")).map(
          (i) => i.device,
        );
        expect(hostDevices).not.toContain("tap0");
        for (const device of hostDevices.filter((d) => d !== "lo"))
          expect(reported).not.toContain(device);
        // Seen here: rootlesskit 2.0.2's child has threads left in the detached namespace (a setns
        // back to the host's is refused), so /proc/CHILD/net/dev may show either; not relied on.
        const child = box.hostPid(childPid) ?? -1;
        const hostNet = readlinkSync("/proc/self/ns/net");
        const threads = readdirSync(`/proc/${child}/task`).map((t) =>
          readlinkSync(`/proc/${child}/task/${t}/ns/net`) === hostNet ? "host" : "other",
        );
        console.log(
          `${ring.driver}: the child's threads' network namespaces: ${threads.join(" ")}; its net/dev shows ${parseNetDev(
            readFileSync(`/proc/${child}/net/dev`, "utf8"),
          )
            .map((i) => i.device)
            .join(" ")}`,
        );
        // The MTU rootlesskit set on the namespace's tap0.
        const { stdout } = await run(
          "nsenter",
          [`--net=/proc/${child}/root${stateDir}/netns`, "ip", "-o", "link", "show", "tap0"],
          { timeout: 5000 },
        );
        expect(stdout).toMatch(/ mtu 65520 /);
        expect(valueOf(body, `rootless_network_mtu{${u()}}`)).toBe(65520);
        expect(valueOf(body, `rootless_network_driver_up{${u()},driver="${ring.driver}"}`)).toBe(1);
        expect(
          valueOf(body, `rootless_check_ok{${u()},check="detach_netns",severity="info"}`),
        ).toBe(0);
      }, 60_000);

      it("the counters move with the child's traffic through the forward", async () => {
        const before = await expectSoon(
          exporter,
          "counters",
          (b) => transmitted(b, box.user.name) > 0,
          30_000,
        );
        let fetched = 0;
        for (let i = 0; i < 20; i++)
          fetched += (await (await fetch(`http://127.0.0.1:${ring.port}/`)).text()).length;
        expect(fetched).toBe(20 * page.length);
        const start = transmitted(before.body, box.user.name);
        await expectSoon(
          exporter,
          "the detached namespace's counters to move",
          (b) => transmitted(b, box.user.name) >= start + fetched,
          withinOneInterval,
        );
      }, 60_000);

      it("the probe measures both paths through the detached namespace", async () => {
        const probe = await startExporter(runtimeDir, [
          "--collector.disable-defaults",
          "--collector.probe",
          "--probe.bytes=16MiB",
          "--probe.timeout=10s",
        ]);
        try {
          const { body } = await expectSoon(
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
        } finally {
          await probe.stop();
        }
      }, 60_000);
    });

    it("Docker 28 started with --detach-netns dies, and its check says why", async () => {
      const runtimeDir = `/run/rlx-detach-${process.pid}-docker`;
      const { uid, home } = box.user;
      const unitDir = `${home}/.config/systemd/user`;
      const unit = `${unitDir}/docker.service`;
      const hadConfig = existsSync(box.path(`${home}/.config`));
      const hadUnit = existsSync(box.path(unit));
      await box.exec(["install", "-d", "-m", "0700", "-o", String(uid), runtimeDir]);
      const env = {
        DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS: "--detach-netns",
        DOCKERD_ROOTLESS_ROOTLESSKIT_NET: "slirp4netns",
      };
      if (!hadUnit) {
        await box.exec([
          "install",
          "-d",
          "-o",
          String(uid),
          `${home}/.config`,
          `${home}/.config/systemd`,
          unitDir,
        ]);
        writeFileSync(
          box.path(unit),
          `[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=--detach-netns"\nExecStart=/usr/share/docker.io/contrib/dockerd-rootless.sh\n`,
        );
        await box.exec(["chown", String(uid), unit]);
      }
      const exporter = await startExporter(runtimeDir);
      try {
        const argv = [
          ...box.asUser({ XDG_RUNTIME_DIR: runtimeDir, ...env }),
          "/usr/share/docker.io/contrib/dockerd-rootless.sh",
          "--storage-driver=vfs",
        ];
        const failed = await run(argv[0] ?? "nsenter", argv.slice(1), { timeout: 60_000 }).then(
          () => "",
          (err: { stderr?: string; stdout?: string }) => `${err.stdout ?? ""}${err.stderr ?? ""}`,
        );
        expect(failed).toMatch(/iptables|you must be root|permission denied/i);
        // The check fails from the unit file alone, so a cycle taken while the doomed dockerd
        // still lived (it runs for a moment before iptables stops it) can show it failing with
        // dockerd up: wait for a cycle after the death, which must still fail it.
        const { body } = await expectSoon(
          exporter,
          "detach_netns_dockerd failing with dockerd down",
          (b) =>
            valueOf(
              b,
              `rootless_check_ok{${u()},check="detach_netns_dockerd",severity="critical"}`,
            ) === 0 && valueOf(b, `rootless_dockerd_up{${u()}}`) !== 1,
          30_000,
        );
        expect(valueOf(body, `rootless_dockerd_up{${u()}}`)).not.toBe(1);
        const report = await fetch(exporter.url("/checks")).then((r) => r.text());
        expect(report).toMatch(/28\.5\.\d/);
        expect(report).toContain("29.5.0");
      } finally {
        await exporter.stop();
        // The root is cached for the other rings: what this test wrote there goes.
        if (!hadUnit) await box.exec(["rm", "-f", unit]).catch(() => "");
        if (!hadConfig) await box.exec(["rm", "-rf", `${home}/.config`]).catch(() => "");
        await box.exec(["rm", "-rf", runtimeDir]).catch(() => "");
      }
    }, 120_000);
  },
);

// Docker's default --disable-host-loopback: the network path picks an address of the host by
// itself. Run in a container with a network namespace of its own, whose only address besides
// loopback is 198.18.0.1 (RFC 2544's benchmarking range) on a veth pair that carries the default
// route: nothing is added to the host's namespace, and the probe's traffic stays in the container.
describe.skipIf(requireOnCi(missing))(
  withReason("the network probe's own target under --disable-host-loopback", missing),
  () => {
    let box: TrixieContainer;
    const u = () => `user="${box.user.name}"`;

    beforeAll(async () => {
      const stage = dirname(dirname(builtMain));
      box = await startTrixie(sidRoot ?? "", trixieUserName, [{ host: stage, inside }], true);
      await addHostNetwork(box);
    }, 60_000);

    afterAll(async () => {
      await box?.stop();
    }, 60_000);

    const cases = [
      { driver: "slirp4netns", portDriver: "builtin", detach: false },
      { driver: "slirp4netns", portDriver: "builtin", detach: true },
      { driver: "pasta", portDriver: "implicit", detach: false },
      { driver: "pasta", portDriver: "implicit", detach: true },
    ];
    it.each(cases)(
      "$driver, detach-netns $detach: the network path succeeds by default",
      async ({ driver, portDriver, detach }) => {
        const runtimeDir = `/run/rlx-target-${driver}-${detach ? "detached" : "attached"}`;
        await box.exec(["install", "-d", "-m", "0700", "-o", String(box.user.uid), runtimeDir]);
        const argv = [
          ...box.asUser({ XDG_RUNTIME_DIR: runtimeDir }),
          "rootlesskit",
          `--state-dir=${runtimeDir}/rk`,
          `--net=${driver}`,
          "--mtu=65520",
          `--port-driver=${portDriver}`,
          "--disable-host-loopback",
          ...(detach ? ["--detach-netns"] : []),
          "sleep",
          "600",
        ];
        const kit = spawn(argv[0] ?? "nsenter", argv.slice(1), { stdio: "ignore", detached: true });
        let probe: RunningDaemon | undefined;
        try {
          await waitFor("rootlesskit's api.sock", () =>
            existsSync(box.path(`${runtimeDir}/rk/api.sock`)),
          );
          probe = await startExporter(runtimeDir, [
            "--collector.disable-defaults",
            "--collector.probe",
            "--probe.bytes=16MiB",
            "--probe.timeout=10s",
          ]);
          const running = probe;
          let body = "";
          await waitFor(
            "the network path probed",
            async () => {
              body = (await scrapeInside(box, running).catch(() => ({ body: "" }))).body;
              return valueOf(body, `rootless_probe_success{${u()},path="network"}`) !== undefined;
            },
            40_000,
          );
          const why = [
            ...body.split("\n").filter((l) => l.startsWith("rootless_probe_")),
            ...running.logs.filter((l) => l.includes("probe")).slice(-5),
          ].join("\n");
          expect(valueOf(body, `rootless_probe_success{${u()},path="network"}`), why).toBe(1);
          expect(
            valueOf(body, `rootless_probe_throughput_bytes_per_second{${u()},path="network"}`),
          ).toBeGreaterThan(1e6);
          // The container's only address but loopback, found by the exporter itself.
          expect(
            running.logs.find((l) => l.includes("probe finished")),
            why,
          ).toContain(`to ${hostAddress} (host)`);
        } finally {
          await probe?.stop();
          if (kit.pid)
            for (const pid of [kit.pid, ...descendants(kit.pid)]) killIfAlive(pid, "SIGKILL");
          await box.exec(["rm", "-rf", runtimeDir]).catch(() => "");
        }
      },
      90_000,
    );

    const startExporter = (runtimeDir: string, extra: readonly string[]) =>
      startDaemon(["--collect.interval=1s", "--collect.rpc-timeout=500ms", ...extra], {
        wrapper: box.asUser({ XDG_RUNTIME_DIR: runtimeDir }),
        node: "/usr/bin/node",
        main: `${inside}/dist/main.js`,
      });
  },
);
