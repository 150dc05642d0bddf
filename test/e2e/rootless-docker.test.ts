import { execFileSync } from "node:child_process";
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  chmodSync,
  writeFileSync,
  mkdtempSync,
} from "node:fs";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon as pollMetrics } from "../helpers/expect-soon.js";
import type { RootlessDocker, TestUser } from "../helpers/rootless-docker.js";
import {
  alive,
  asUser,
  killIfAlive,
  makeBusyboxTar,
  startRootlessDocker,
  testUser,
  waitFor,
} from "../helpers/rootless-docker.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";
import { warningId } from "../../src/collectors/docker/warnings.js";

// End to end on a real rootless Docker (rootlesskit + slirp4netns + dockerd, Debian's docker.io),
// with the exporter run as the same unprivileged user, and faults injected while both run.
const userName = process.env["ROOTLESS_TEST_USER"];
const rootlessScript = "/usr/share/docker.io/contrib/dockerd-rootless.sh";
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [userName !== undefined, "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)"],
  [existsSync(rootlessScript), `${rootlessScript} is missing (apt-get install docker.io)`],
);

const interval = 1000;

/** Polls until `check` holds; every scrape meanwhile must be fast. Returns the body and the wait. */
const expectSoon = (
  exporter: RunningDaemon,
  what: string,
  check: (body: string) => boolean,
  timeoutMs = 3 * interval + 2000,
) => pollMetrics(exporter, what, check, timeoutMs);

function stateDirOf(pid: number): string {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    if (link.endsWith("/lock")) return dirname(link);
  }
  throw new Error(`rootlesskit ${pid} holds no lock`);
}

function childrenNamed(pid: number, comm: string): number[] {
  const found: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8")
      .split(/\s+/)
      .filter(Boolean)) {
      if (readFileSync(`/proc/${child}/comm`, "utf8").trim() === comm) found.push(Number(child));
    }
  }
  return found;
}

describe.skipIf(requireOnCi(missing))(
  withReason("the exporter on a real rootless Docker", missing),
  () => {
    let user: TestUser;
    let docker: RootlessDocker;
    let exporter: RunningDaemon;
    let work: string;
    const u = () => `user="${user.name}"`;

    const startExporter = (runtimeDir: string) =>
      startDaemon(
        [
          "--collect.interval=1s",
          "--collect.rpc-timeout=500ms",
          "--collect.timeout=5s",
          "--log.level=debug",
        ],
        {
          wrapper: asUser(user, { XDG_RUNTIME_DIR: runtimeDir }),
        },
      );

    beforeAll(async () => {
      user = testUser(userName ?? "");
      work = mkdtempSync(join(tmpdir(), "rootless-exporter-e2e-"));
      const tar = await makeBusyboxTar(work);
      docker = await startRootlessDocker(user);
      await docker.docker("import", tar, "busybox:local");
      exporter = await startExporter(docker.runtimeDir);
    }, 180_000);

    afterAll(async () => {
      await exporter?.stop();
      await docker?.stop();
      rmSync(work, { recursive: true, force: true });
    }, 60_000);

    it("reports rootlesskit, dockerd and the network driver as they are", async () => {
      const { body } = await expectSoon(
        exporter,
        "daemon up",
        (b) =>
          valueOf(b, `rootless_dockerd_up{${u()}}`) === 1 &&
          valueOf(b, `rootless_rootlesskit_api_up{${u()}}`) === 1 &&
          // Each collector's latest run must have seen the daemon whole (dockerd's /info can lag).
          [
            "rootless_docker_info{",
            "rootless_rootlesskit_info{",
            "rootless_network_mtu",
            "rootless_userns_mapped_ids{",
          ].every((name) => b.includes(name)),
      );
      const stateDir = stateDirOf(docker.pid);
      expect(body).toContain(`rootless_rootlesskit_up{${u()}} 1`);
      expect(body).toMatch(
        new RegExp(
          `rootless_rootlesskit_info\\{${u()},version="[\\d.]+",api_version="[\\d.]+",network_driver="slirp4netns",port_driver="builtin",state_dir="${stateDir}"\\} 1`,
        ),
      );
      const started = valueOf(body, `rootless_rootlesskit_start_time_seconds{${u()}}`) ?? 0;
      expect(Math.abs(started - Date.now() / 1000)).toBeLessThan(300);
      expect(valueOf(body, `rootless_rootlesskit_state_dir_stale{${u()}}`)).toBe(0);
      const version = (await docker.docker("version", "--format", "{{.Server.Version}}")).trim();
      expect(body).toContain(
        `rootless_docker_info{${u()},version="${version}",storage_driver="vfs",`,
      );
      expect(body).toMatch(/rootless="true"\} 1/);
      expect(valueOf(body, `rootless_docker_api_up{${u()}}`)).toBe(1);
      const dataRoot =
        /rootless_docker_data_root_filesystem_info\{user="[^"]+",path="([^"]+)",fstype="([^"]+)"\}/.exec(
          body,
        );
      expect(dataRoot?.[1]).toBe(`${user.home}/.local/share/docker`);
      const fsType = execFileSync("findmnt", ["-n", "-o", "FSTYPE", "-T", dataRoot?.[1] ?? "/"], {
        encoding: "utf8",
      }).trim();
      expect(dataRoot?.[2]).toBe(fsType);
      expect(valueOf(body, `rootless_network_driver_up{${u()},driver="slirp4netns"}`)).toBe(1);
      expect(valueOf(body, `rootless_network_mtu{${u()}}`)).toBe(65520);
      const childPid = Number(readFileSync(join(stateDir, "child_pid"), "utf8"));
      const mapped = readFileSync(`/proc/${childPid}/uid_map`, "utf8")
        .trim()
        .split("\n")
        .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[2]), 0);
      expect(valueOf(body, `rootless_userns_mapped_ids{${u()},kind="uid"}`)).toBe(mapped);
      expect(valueOf(body, `rootless_dbus_user_bus_up{${u()}}`)).toBe(0);
    });

    it("measures the data root as stat -f does, and maps the daemon's real warnings", async () => {
      const dataRoot = `${user.home}/.local/share/docker`;
      const measured = (b: string) =>
        valueOf(b, `rootless_docker_data_root_free_bytes{${u()}}`) !== undefined &&
        valueOf(b, `rootless_docker_warnings{${u()}}`) !== undefined;
      // As the user (the exporter above), and as root watching the user through the walk.
      const root = await startDaemon([
        `--target.user=${user.name}`,
        "--collect.interval=1s",
        "--collect.timeout=5s",
      ]);
      try {
        for (const exporterOf of [exporter, root]) {
          const { body } = await expectSoon(exporterOf, "data root measured", measured);
          const [avail = 0, block = 0, blocks = 0, files = 0, ffree = 0] = execFileSync(
            "stat",
            ["-f", "-c", "%a %S %b %c %d", dataRoot],
            { encoding: "utf8" },
          )
            .trim()
            .split(" ")
            .map(Number);
          const free = valueOf(body, `rootless_docker_data_root_free_bytes{${u()}}`) ?? 0;
          console.log(
            `data root ${dataRoot}: exporter ${free} bytes free, stat -f ${avail * block} (${((100 * Math.abs(free - avail * block)) / (avail * block)).toFixed(3)}% apart)`,
          );
          expect(Math.abs(free - avail * block)).toBeLessThan(0.03 * avail * block);
          expect(valueOf(body, `rootless_docker_data_root_size_bytes{${u()}}`)).toBe(
            blocks * block,
          );
          if (files > 0) {
            expect(valueOf(body, `rootless_docker_data_root_inodes{${u()}}`)).toBe(files);
            const freeInodes = valueOf(body, `rootless_docker_data_root_free_inodes{${u()}}`) ?? 0;
            expect(Math.abs(freeInodes - ffree)).toBeLessThan(0.03 * ffree);
          }
          expect(valueOf(body, `rootless_docker_data_root_dtype_supported{${u()}}`)).toBe(1);
          // The daemon's own list, as its client prints it, mapped as the exporter maps it.
          const real = JSON.parse(
            await docker.docker("info", "--format", "{{json .Warnings}}"),
          ) as unknown;
          const listed = Array.isArray(real) ? real : [];
          console.log(`dockerd's /info warnings: ${JSON.stringify(listed)}`);
          const ids = listed.map(warningId);
          expect(valueOf(body, `rootless_docker_warnings{${u()}}`)).toBe(listed.length);
          for (const id of new Set(ids))
            expect(valueOf(body, `rootless_docker_warning{${u()},warning="${id}"}`)).toBe(
              ids.filter((i) => i === id).length,
            );
          // Debian 12's dockerd on this cgroup v1 host has warnings, every one of them moby's own.
          expect(listed.length).toBeGreaterThan(0);
          expect(ids).not.toContain("other");
          if (ids.includes("rootless_no_cgroups"))
            expect(
              valueOf(body, `rootless_check_ok{${u()},check="docker_cgroups",severity="warning"}`),
            ).toBe(0);
        }
      } finally {
        await root.stop();
      }
    });

    it("counts the traffic of a docker run -p port on the child's lo, and the forward", async () => {
      const web = `web-${process.pid}`;
      await docker.docker(
        "run",
        "-d",
        "--name",
        web,
        "-p",
        "127.0.0.1:18480:8080",
        "busybox:local",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
      );
      try {
        await countTraffic();
      } finally {
        await docker.docker("rm", "-f", web);
      }
    });

    async function countTraffic(): Promise<void> {
      const before = await expectSoon(
        exporter,
        "the forward",
        (b) => valueOf(b, `rootless_rootlesskit_ports{${u()},proto="tcp"}`) === 1,
      );
      const lo = `rootless_network_receive_bytes_total{${u()},device="lo"}`;
      const start = valueOf(before.body, lo) ?? 0;
      let fetched = 0;
      for (let i = 0; i < 20; i++)
        fetched += (await (await fetch("http://127.0.0.1:18480/")).text()).length;
      expect(fetched).toBe(20 * 3200);
      await expectSoon(
        exporter,
        "lo counters to move",
        (b) => (valueOf(b, lo) ?? 0) >= start + fetched,
      );
      // dockerd's /info can take longer than an interval under load: wait for a run that saw it.
      await expectSoon(
        exporter,
        "one running container",
        (b) => valueOf(b, `rootless_docker_containers{${u()},state="running"}`) === 1,
      );
    }

    it("an api.sock that accepts and never answers: api down, /metrics still fast", async () => {
      const socket = join(stateDirOf(docker.pid), "api.sock");
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
      );
    });

    it("a docker.pid that names another user's live process is not trusted", async () => {
      const pidFile = join(docker.runtimeDir, "docker.pid");
      const real = readFileSync(pidFile, "utf8");
      writeFileSync(pidFile, String(process.pid));
      try {
        await expectSoon(
          exporter,
          "dockerd_up 0",
          (b) => valueOf(b, `rootless_dockerd_up{${u()}}`) === 0,
        );
      } finally {
        writeFileSync(pidFile, real);
      }
      await expectSoon(
        exporter,
        "dockerd_up 1 again",
        (b) => valueOf(b, `rootless_dockerd_up{${u()}}`) === 1,
      );
    });

    it("slirp4netns killed: network driver down", async () => {
      const [slirp] = childrenNamed(docker.pid, "slirp4netns");
      expect(slirp).toBeDefined();
      process.kill(slirp ?? -1, "SIGKILL");
      const seen = await expectSoon(
        exporter,
        "driver down",
        (b) => valueOf(b, `rootless_network_driver_up{${u()},driver="slirp4netns"}`) === 0,
      );
      expect(seen.waitedMs).toBeLessThan(3 * interval + 1000);
    });

    it("rootlesskit SIGKILLed: down, and its state dir reported stale", async () => {
      const stateDir = stateDirOf(docker.pid);
      const tree = docker.processTree();
      process.kill(docker.pid, "SIGKILL");
      try {
        const seen = await expectSoon(
          exporter,
          "stale state dir",
          (b) =>
            valueOf(b, `rootless_rootlesskit_up{${u()}}`) === 0 &&
            valueOf(b, `rootless_rootlesskit_state_dir_stale{${u()}}`) === 1,
        );
        expect(valueOf(seen.body, `rootless_rootlesskit_api_up{${u()}}`)).toBe(0);
      } finally {
        for (const pid of tree) killIfAlive(pid, "SIGKILL");
        rmSync(stateDir, { recursive: true, force: true });
      }
    });

    it("dockerd stopped: dockerd and its API down", async () => {
      await exporter.stop();
      await docker.stop();
      docker = await startRootlessDocker(user);
      exporter = await startExporter(docker.runtimeDir);
      await expectSoon(
        exporter,
        "dockerd up",
        (b) => valueOf(b, `rootless_dockerd_up{${u()}}`) === 1,
      );
      const dockerd = Number(readFileSync(join(docker.runtimeDir, "docker.pid"), "utf8"));
      docker.processTree();
      process.kill(dockerd, "SIGTERM");
      await waitFor("dockerd to exit", () => !alive(dockerd), 30_000);
      const seen = await expectSoon(
        exporter,
        "dockerd down",
        (b) =>
          valueOf(b, `rootless_dockerd_up{${u()}}`) === 0 &&
          valueOf(b, `rootless_docker_api_up{${u()}}`) === 0,
      );
      expect(seen.slowestScrapeMs).toBeLessThan(250);
    }, 120_000);
  },
);
