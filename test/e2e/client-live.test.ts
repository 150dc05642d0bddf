import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
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
