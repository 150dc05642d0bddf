import { readFileSync, renameSync, rmSync, chmodSync } from "node:fs";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RootlesskitInfo } from "../../src/collectors/rootlesskit-api.js";
import { parseInfo } from "../../src/collectors/rootlesskit-api.js";
import { parseJson, unixHttp } from "../../src/host/unix-http.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon } from "../helpers/expect-soon.js";
import { alive, descendants, waitFor } from "../helpers/rootless-docker.js";
import type { TrixieContainer } from "../helpers/trixie.js";
import { startTrixie, trixieMissing, trixieRoot, trixieUserName } from "../helpers/trixie.js";
import type { ContainerDocker } from "../helpers/trixie-docker.js";
import { startContainerDocker } from "../helpers/trixie-docker.js";

// The pasta ring: Debian 13 (rootlesskit 2.0.2, passt, Docker 26, Node 20) in a systemd-nspawn
// container on the host's network, rootless Docker for the container's test user on pasta with the
// implicit port driver and on slirp4netns, the exporter run there with Debian's own node, compared
// with what api.sock, /proc and Docker say, and faults injected while it runs.
const missing = trixieMissing();
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
    // Host loopback stays reachable through the gateway, so the probe's network path has a target.
    env: {
      DOCKERD_ROOTLESS_ROOTLESSKIT_NET: "pasta",
      DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "implicit",
      DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK: "false",
    },
    portDriver: "",
  },
  {
    driver: "slirp4netns",
    env: {
      DOCKERD_ROOTLESS_ROOTLESSKIT_NET: "slirp4netns",
      DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: "builtin",
      DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK: "false",
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

function argvOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
}

describe.skipIf(missing !== undefined)(
  `the exporter on rootless Docker 26 in Debian 13${missing ? ` (skipped: ${missing})` : ""}`,
  () => {
    let box: TrixieContainer;
    const u = () => `user="${box.user.name}"`;

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
      box = await startTrixie(trixieRoot ?? "", trixieUserName, [{ host: stage, inside }]);
    }, 60_000);

    afterAll(async () => {
      await box?.stop();
    }, 60_000);

    describe.each(rings)("$driver on rootlesskit 2", (ring) => {
      let docker: ContainerDocker;
      let exporter: RunningDaemon;
      const stateDir = () => `${docker.runtimeDir}/dockerd-rootless`;

      beforeAll(async () => {
        docker = await startContainerDocker(box, ring.env);
        exporter = await startExporter(docker.runtimeDir);
      }, 180_000);

      afterAll(async () => {
        await exporter?.stop();
        await docker?.stop();
      }, 60_000);

      it("reports rootlesskit, dockerd and the driver as api.sock, /proc and Docker say", async () => {
        const { body } = await expectSoon(
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
        const version = (await docker.docker("version", "--format", "{{.Server.Version}}")).trim();
        expect(version).toMatch(/^26\./);
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
        expect(valueOf(body, `rootless_network_driver_up{${u()},driver="${ring.driver}"}`)).toBe(1);
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

      it("the probe measures both paths through the driver", async () => {
        const probe = await startExporter(docker.runtimeDir, [
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
          for (const path of ["port", "network"]) {
            expect(valueOf(body, `rootless_probe_success{${u()},path="${path}"}`)).toBe(1);
            expect(
              valueOf(body, `rootless_probe_throughput_bytes_per_second{${u()},path="${path}"}`),
            ).toBeGreaterThan(1e6);
          }
          // Measured on loopback: pasta shows a loopback client as the namespace's own address,
          // rootlesskit's builtin driver as 127.0.0.1; neither is the client's 127.0.0.2.
          expect(valueOf(body, `rootless_probe_source_ip_propagated{${u()}}`)).toBe(0);
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

      it("an api.sock that accepts and never answers: api down, /metrics still fast", async () => {
        const socket = box.path(`${stateDir()}/api.sock`);
        renameSync(socket, `${socket}.real`);
        const held: Socket[] = [];
        const server = createServer((conn) => void held.push(conn));
        await new Promise<void>((resolve) => server.listen(socket, resolve));
        chmodSync(socket, 0o777);
        try {
          const seen = await expectSoon(
            exporter,
            "api_up 0",
            (b) => valueOf(b, `rootless_rootlesskit_api_up{${u()}}`) === 0,
            withinOneInterval,
          );
          expect(seen.slowestScrapeMs).toBeLessThan(250);
          expect(valueOf(seen.body, `rootless_rootlesskit_up{${u()}}`)).toBe(1);
          expect(held.length).toBeGreaterThan(0);
        } finally {
          for (const conn of held) conn.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          rmSync(socket, { force: true });
          renameSync(`${socket}.real`, socket);
        }
        await expectSoon(
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
        const seen = await expectSoon(
          exporter,
          "driver down",
          (b) => valueOf(b, `rootless_network_driver_up{${u()},driver="${ring.driver}"}`) === 0,
          withinOneInterval,
        );
        expect(seen.slowestScrapeMs).toBeLessThan(250);
      });

      it("rootlesskit SIGKILLed: down, and its state dir reported stale", async () => {
        const tree = docker.processTree();
        process.kill(docker.pid, "SIGKILL");
        try {
          const seen = await expectSoon(
            exporter,
            "stale state dir",
            (b) =>
              valueOf(b, `rootless_rootlesskit_up{${u()}}`) === 0 &&
              valueOf(b, `rootless_rootlesskit_state_dir_stale{${u()}}`) === 1,
            withinOneInterval,
          );
          expect(valueOf(seen.body, `rootless_rootlesskit_api_up{${u()}}`)).toBe(0);
          expect(seen.slowestScrapeMs).toBeLessThan(250);
        } finally {
          for (const pid of tree) if (alive(pid)) process.kill(pid, "SIGKILL");
        }
      });

      it("dockerd stopped: dockerd and its API down", async () => {
        await exporter.stop();
        await docker.stop();
        docker = await startContainerDocker(box, ring.env);
        exporter = await startExporter(docker.runtimeDir);
        await expectSoon(
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
        const seen = await expectSoon(
          exporter,
          "dockerd down",
          (b) =>
            valueOf(b, `rootless_dockerd_up{${u()}}`) === 0 &&
            valueOf(b, `rootless_docker_api_up{${u()}}`) === 0,
          withinOneInterval,
        );
        expect(seen.slowestScrapeMs).toBeLessThan(250);
      }, 180_000);
    });
  },
);
