import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningDaemon } from "../helpers/daemon.js";
import { startDaemon, valueOf } from "../helpers/daemon.js";
import { expectSoon } from "../helpers/expect-soon.js";
import type { TestUser } from "../helpers/rootless-docker.js";
import {
  asHostile,
  hostileMissing,
  hostileUser,
  hostileUserName,
} from "../helpers/hostile-user.js";
import { requireOnCi, withReason } from "../helpers/prerequisites.js";
import { asUser } from "../helpers/rootless-docker.js";

// issue 17: the user's daemon names the data root the root exporter measures, and sends the
// warnings it counts. Served by the real unprivileged user on a fake docker.sock.
const userName = hostileUserName;
const secret = "SECRET-d4t4r00t";

/** /info with the DockerRootDir read from a file at each request, and 8,000 warnings (232 KB). */
const fakeDockerd = `
const { createServer } = require("node:http");
const { readFileSync, unlinkSync } = require("node:fs");
const [path, rootFile] = process.argv.slice(1);
try { unlinkSync(path); } catch {}
const warnings = Array(8000).fill("WARNING: ${secret}");
createServer((req, res) => {
  if (req.url === "/_ping") return res.end("OK");
  res.setHeader("Content-Type", "application/json");
  const root = readFileSync(rootFile, "utf8");
  res.end(JSON.stringify({ ServerVersion: "27.3.1", Driver: "overlay2", DockerRootDir: root,
    SecurityOptions: ["name=rootless"], Warnings: warnings }));
}).listen(path, () => process.stdout.write("ready\\n"));
`;

describe.skipIf(requireOnCi(hostileMissing))(
  withReason(`${userName}'s dockerd naming the data root a root exporter measures`, hostileMissing),
  () => {
    const u = hostileUser as TestUser;
    const runtimeDir = `/run/user/${u.uid}`;
    const socket = join(runtimeDir, "docker.sock");
    const work = mkdtempSync(join(tmpdir(), "hostile-data-root-"));
    const rootFile = join(work, "root-dir");
    const user = `user="${userName}"`;
    let madeRuntimeDir = false;
    let server: ChildProcess | undefined;
    let daemon: RunningDaemon | undefined;

    beforeAll(async () => {
      chmodSync(work, 0o755);
      writeFileSync(rootFile, "/root");
      chmodSync(rootFile, 0o644);
      if (!existsSync(runtimeDir)) {
        mkdirSync(runtimeDir, { mode: 0o700 });
        chownSync(runtimeDir, u.uid, u.gid);
        madeRuntimeDir = true;
      }
      // What the user plants: a symlink to root's home, and a real data root of their own.
      await asHostile("ln", "-sfn", "/root", `${u.home}/dr-link`);
      await asHostile("mkdir", "-p", `${u.home}/.local/share/docker/overlay2`);
      const [file = "", ...rest] = [
        ...asUser(u, {}),
        process.execPath,
        "-e",
        fakeDockerd,
        socket,
        rootFile,
      ];
      server = spawn(file, rest, { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve, reject) => {
        server?.stdout?.once("data", () => resolve());
        server?.once("exit", (code) => reject(new Error(`fake dockerd exited with ${code}`)));
      });
      daemon = await startDaemon([
        `--target.user=${userName}`,
        "--collect.interval=1s",
        "--log.level=debug",
      ]);
    });
    afterAll(async () => {
      await daemon?.stop();
      if (server && server.exitCode === null) {
        const exited = once(server, "exit");
        server.kill("SIGTERM");
        await exited;
      }
      rmSync(socket, { force: true });
      rmSync(`${u.home}/dr-link`, { force: true });
      if (madeRuntimeDir) rmSync(runtimeDir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    });

    /** Points the daemon's DockerRootDir at `path` and waits for a cycle that used it. */
    const served = async (path: string, note: RegExp | undefined) => {
      writeFileSync(rootFile, path);
      const d = daemon as RunningDaemon;
      const logged = d.logs.length;
      return expectSoon(
        d,
        `a cycle with DockerRootDir ${path}`,
        (body) =>
          note
            ? d.logs.slice(logged).some((l) => note.test(l))
            : valueOf(body, `rootless_docker_data_root_free_bytes{${user}}`) !== undefined,
        15_000,
      );
    };

    it("root's /root, or the user's symlink to it: refused unmeasured, the checks unknown", async () => {
      for (const [path, note] of [
        ["/root", /data root: \/root belongs to uid 0/],
        [`${u.home}/dr-link`, /data root: .*dr-link is a symbolic link, not followed/],
      ] as const) {
        const { body } = await served(path, note);
        expect(body).not.toMatch(/rootless_docker_data_root_(free_bytes|size_bytes|inodes|dtype)/);
        expect(body).not.toMatch(/check="data_root_(space|full)"/);
        const checks = (await (await fetch((daemon as RunningDaemon).url("/checks"))).json()) as {
          targets: { checks: { id: string; state: string; summary: string }[] }[];
        };
        const space = checks.targets[0]?.checks.find((c) => c.id === "data_root_space");
        expect(space?.state).toBe("unknown");
      }
    });

    it("the user's own data root is measured; 8,000 warnings counted as other, never echoed", async () => {
      const { body } = await served(`${u.home}/.local/share/docker`, undefined);
      expect(valueOf(body, `rootless_docker_data_root_size_bytes{${user}}`)).toBeGreaterThan(0);
      expect(valueOf(body, `rootless_docker_data_root_dtype_supported{${user}}`)).toBe(1);
      expect(valueOf(body, `rootless_docker_warnings{${user}}`)).toBe(8_000);
      expect(valueOf(body, `rootless_docker_warning{${user},warning="other"}`)).toBe(8_000);
      const checks = await (await fetch((daemon as RunningDaemon).url("/checks"))).text();
      for (const text of [body, checks, (daemon as RunningDaemon).logs.join("\n")])
        expect(text).not.toContain(secret);
    });
  },
);
