import { spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestUser } from "./rootless-docker.js";
import { asUser, descendants, killIfAlive, waitFor } from "./rootless-docker.js";

/** A bare rootlesskit (no Docker) for the user, for probing one driver combination. */
export interface Rootlesskit {
  /** Its own XDG_RUNTIME_DIR, so the exporter finds this rootlesskit and no other. */
  readonly runtimeDir: string;
  readonly stateDir: string;
  readonly pid: number;
  readonly childPid: number;
  stop(): Promise<void>;
}

export async function startRootlesskit(
  user: TestUser,
  flags: readonly string[],
): Promise<Rootlesskit> {
  const runtimeDir = mkdtempSync(join(tmpdir(), "rootless-exporter-kit-"));
  chownSync(runtimeDir, user.uid, user.gid);
  chmodSync(runtimeDir, 0o700);
  const stateDir = join(runtimeDir, "rootlesskit");
  const argv = [
    ...asUser(user, { XDG_RUNTIME_DIR: runtimeDir }),
    "rootlesskit",
    "--net=slirp4netns",
    "--mtu=65520",
    `--state-dir=${stateDir}`,
    ...flags,
    "sleep",
    "3600",
  ];
  const child = spawn("setsid", argv, { stdio: "ignore", cwd: "/" });
  const pid = child.pid ?? -1;
  await waitFor("rootlesskit's child_pid", () => existsSync(join(stateDir, "child_pid")), 20_000);
  const childPid = Number(readFileSync(join(stateDir, "child_pid"), "utf8"));
  return {
    runtimeDir,
    stateDir,
    pid,
    childPid,
    async stop() {
      const tree = [pid, ...descendants(pid)];
      for (const p of tree) killIfAlive(p, "SIGKILL");
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}
