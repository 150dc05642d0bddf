import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { startDaemon, valueOf, waitForMetrics } from "../helpers/daemon.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

/*
 * The client collector on this very host (issue 17, "the client talks to the wrong daemon"): the
 * real docker CLI, run as the unprivileged test user, writes the user's ~/.docker (config.json and
 * the context's meta.json under the hash docker itself picks) and the built exporter, as root
 * watching that user, reads it. Only the CLI's files are made: no daemon is asked anything.
 */
const user = process.env["ROOTLESS_TEST_USER"];
const docker = ["/usr/bin/docker", "/usr/local/bin/docker"].find((p) => existsSync(p));

function account(name: string): { uid: number; gid: number; home: string } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`${name} is not in /etc/passwd`);
  const [, , uid, gid, , home] = line.split(":");
  return { uid: Number(uid), gid: Number(gid), home: home ?? "" };
}

const who = user !== undefined ? account(user) : undefined;
const missing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [user !== undefined, "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)"],
  [docker !== undefined, "no docker CLI (apt-get install -y docker.io)"],
  // The test makes ~/.docker and ~/.config/systemd/user/docker.service and removes them after:
  // a user who has their own is left alone.
  [
    who !== undefined &&
      !existsSync(join(who.home, ".docker")) &&
      !existsSync(join(who.home, ".config/systemd/user/docker.service")),
    "the test user already has ~/.docker or a docker.service of their own",
  ],
);

describe.skipIf(requireOnCi(missing))(
  withReason("client: the real docker CLI's context, read by the exporter as root", missing),
  () => {
    const name = user ?? "";
    const { uid, gid, home } = who ?? { uid: -1, gid: -1, home: "/nonexistent" };
    const rootless = `unix:///run/user/${uid}/docker.sock`;
    let daemon: RunningDaemon;
    const asUser = (...argv: string[]) =>
      execFileSync(
        "setpriv",
        [`--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--", ...argv],
        { env: { PATH: "/usr/bin:/bin", HOME: home }, stdio: "pipe" },
      );
    const series = (labels: string) => `{user="${name}",${labels}}`;

    // The directories the test makes in the user's home, removed after it (theirs are kept).
    const made: string[] = [];

    beforeAll(async () => {
      for (const dir of [".docker", ".config", ".config/systemd", ".config/systemd/user"])
        if (!existsSync(join(home, dir))) made.push(join(home, dir));
      asUser(
        docker ?? "docker",
        "context",
        "create",
        "remote",
        "--docker",
        "host=tcp://127.0.0.1:2375",
      );
      asUser(docker ?? "docker", "context", "use", "remote");
      daemon = await startDaemon([`--target.user=${name}`, "--collect.interval=1s"]);
    }, 30_000);

    afterAll(async () => {
      await daemon?.stop();
      rmSync(join(home, ".config/systemd/user/docker.service"), { force: true });
      rmSync(join(home, ".config/systemd/user/docker.service.d"), { recursive: true, force: true });
      for (const dir of made.reverse()) rmSync(dir, { recursive: true, force: true });
    });

    it("a current context on tcp: kind tcp, no match, client_endpoint fails naming the address", async () => {
      const body = await waitForMetrics(daemon, (b) =>
        b.includes(`rootless_client_endpoint_info${series('source="context",kind="tcp"')} 1`),
      );
      expect(valueOf(body, `rootless_client_endpoint_matches${series('source="context"')}`)).toBe(
        0,
      );
      expect(
        valueOf(body, `rootless_check_ok${series('check="client_endpoint",severity="warning"')}`),
      ).toBe(0);
      const checks = (await (await fetch(daemon.url("/checks"))).json()) as {
        targets: { checks: { id: string; state: string; summary: string }[] }[];
      };
      const found = checks.targets[0]?.checks.find((c) => c.id === "client_endpoint");
      expect(found?.state).toBe("fail");
      expect(found?.summary).toContain("tcp://127.0.0.1:2375");
      expect(found?.summary).toContain("remote");
    }, 30_000);

    it("`docker context use` of a context on the user's rootless socket: a match", async () => {
      asUser(docker ?? "docker", "context", "create", "rootless", "--docker", `host=${rootless}`);
      asUser(docker ?? "docker", "context", "use", "rootless");
      const body = await waitForMetrics(daemon, (b) =>
        b.includes(`rootless_client_endpoint_matches${series('source="context"')} 1`),
      );
      expect(
        valueOf(
          body,
          `rootless_client_endpoint_info${series('source="context",kind="unix_rootless"')}`,
        ),
      ).toBe(1);
      expect(
        valueOf(body, `rootless_check_ok${series('check="client_endpoint",severity="warning"')}`),
      ).toBe(1);
    }, 30_000);

    it("DOCKER_HOST on root's runtime dir in a drop-in of the user's docker.service", async () => {
      const dir = join(home, ".config/systemd/user");
      asUser("mkdir", "-p", `${dir}/docker.service.d`);
      asUser("sh", "-c", `printf '[Service]\\nExecStart=/bin/true\\n' > ${dir}/docker.service`);
      asUser(
        "sh",
        "-c",
        `printf '[Service]\\nEnvironment=DOCKER_HOST=unix:///run/user/0/docker.sock\\n' > ${dir}/docker.service.d/env.conf`,
      );
      const body = await waitForMetrics(daemon, (b) =>
        b.includes(
          `rootless_client_endpoint_info${series('source="docker_host_unit",kind="unix_root_runtime"')} 1`,
        ),
      );
      expect(
        valueOf(body, `rootless_client_endpoint_matches${series('source="docker_host_unit"')}`),
      ).toBe(0);
      expect(
        valueOf(body, `rootless_check_ok${series('check="client_endpoint",severity="warning"')}`),
      ).toBe(0);
    }, 30_000);

    it("~/.docker/config.json swapped for a symlink to root's file: refused, unknown, not read", async () => {
      asUser("rm", "-f", join(home, ".docker/config.json"));
      asUser("ln", "-s", "/etc/shadow", join(home, ".docker/config.json"));
      rmSync(join(home, ".config/systemd/user/docker.service.d"), { recursive: true, force: true });
      const body = await waitForMetrics(
        daemon,
        (b) =>
          !b.includes(`rootless_client_endpoint_info${series('source="context"')}`.slice(0, -1)),
      );
      expect(body).not.toContain('source="context"');
      const checks = (await (await fetch(daemon.url("/checks"))).json()) as {
        targets: { checks: { id: string; state: string; summary: string }[] }[];
      };
      const found = checks.targets[0]?.checks.find((c) => c.id === "client_endpoint");
      expect(found?.state).toBe("unknown");
      expect(found?.summary).toContain("unsafe");
      expect(JSON.stringify(checks)).not.toContain("root:");
    }, 30_000);
  },
);

/*
 * A real rootful dockerd beside the watched user: Debian's dockerd as root, in a mount and network
 * namespace of its own (a tmpfs on /run, no bridge, no iptables, vfs in a temporary data root), so
 * that nothing of the host's /run, network or firewall changes; only its process is visible, as
 * root's, in the host's /proc. Stopped by its pid after the test.
 */
const dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].find((p) => existsSync(p));
const rootfulMissing = firstMissing(
  [process.getuid?.() === 0, "needs root"],
  [user !== undefined, "ROOTLESS_TEST_USER is not set (scripts/test-all.sh makes rlx-live)"],
  [dockerd !== undefined, "no dockerd (apt-get install -y docker.io)"],
  [existsSync("/usr/bin/unshare"), "no unshare (util-linux)"],
);

describe.skipIf(requireOnCi(rootfulMissing))(
  withReason("client: a real rootful dockerd beside the rootless user", rootfulMissing),
  () => {
    const name = user ?? "";
    let daemon: RunningDaemon;
    let rootful: ChildProcess | undefined;
    let dir = "";
    let stderr = "";

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "rootless-exporter-rootful-"));
      // unshare execs sh, sh execs dockerd: the child's pid is dockerd's.
      rootful = spawn(
        "unshare",
        [
          "--mount",
          "--net",
          "--propagation",
          "private",
          "--",
          "sh",
          "-c",
          'mount -t tmpfs tmpfs /run && exec "$0" "$@"',
          dockerd ?? "dockerd",
          "--host=unix:///run/client-test.sock",
          `--data-root=${join(dir, "data")}`,
          "--exec-root=/run/docker-exec",
          "--pidfile=/run/docker.pid",
          "--iptables=false",
          "--ip6tables=false",
          "--bridge=none",
          "--storage-driver=vfs",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      rootful.stderr?.on(
        "data",
        (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)),
      );
      daemon = await startDaemon([`--target.user=${name}`, "--collect.interval=1s"]);
    }, 30_000);

    afterAll(async () => {
      await daemon?.stop();
      if (rootful && rootful.exitCode === null && rootful.signalCode === null) {
        const exited = once(rootful, "exit");
        rootful.kill("SIGTERM");
        const kill = setTimeout(() => rootful?.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(kill);
      }
      rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it("is seen (rootful_dockerd fails naming its pid), and gone once it stops", async () => {
      const body = await waitForMetrics(
        daemon,
        (b) => b.includes("rootless_client_rootful_dockerd_running 1"),
        20_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; dockerd said: ${stderr}`);
      });
      expect(
        valueOf(body, `rootless_check_ok{user="${name}",check="rootful_dockerd",severity="info"}`),
      ).toBe(0);
      const checks = (await (await fetch(daemon.url("/checks"))).json()) as {
        targets: { checks: { id: string; state: string; summary: string }[] }[];
      };
      const found = checks.targets[0]?.checks.find((c) => c.id === "rootful_dockerd");
      expect(found?.state).toBe("fail");
      expect(found?.summary).toContain(`pid ${rootful?.pid}`);
      const exited = once(rootful as ChildProcess, "exit");
      rootful?.kill("SIGTERM");
      await exited;
      await waitForMetrics(daemon, (b) => b.includes("rootless_client_rootful_dockerd_running 0"));
    }, 60_000);
  },
);
