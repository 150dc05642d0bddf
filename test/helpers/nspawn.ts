import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { alive, killIfAlive, waitFor } from "./rootless-docker.js";

const run = promisify(execFile);

/** A Debian 12 booted with systemd-nspawn: real systemd, logind and user managers. */
export interface BootedContainer {
  /** The container's PID 1 (systemd), as the host sees it. */
  readonly leader: number;
  /** Runs a program inside every namespace of the container. */
  exec(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** Runs a host program in the container's network namespace only (curl to its loopback). */
  execInNetwork(args: readonly string[]): Promise<string>;
  /** A path inside the container's root, reachable from the host. */
  path(inside: string): string;
  stop(): Promise<void>;
}

export async function bootContainer(
  root: string,
  binds: readonly string[],
): Promise<BootedContainer> {
  // The flags the issue names: --keep-unit and --register=no because no machined runs here,
  // --private-network for a loopback of its own, @keyring because systemd in it needs keyctl.
  const args = [
    "-D",
    root,
    "--boot",
    "--register=no",
    "--keep-unit",
    "--private-network",
    "--system-call-filter=@keyring",
    "--volatile=overlay",
    ...binds.map((b) => `--bind-ro=${b}`),
  ];
  let log = "";
  const nspawn: ChildProcess = spawn("systemd-nspawn", args, { stdio: ["ignore", "pipe", "pipe"] });
  nspawn.stdout?.on("data", (c: Buffer) => (log += c.toString()));
  nspawn.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  const pid = nspawn.pid ?? -1;
  let leader = -1;
  const exec = async (argv: readonly string[], timeoutMs = 30_000): Promise<string> => {
    const { stdout } = await run("nsenter", ["-t", String(leader), "-a", "--", ...argv], {
      timeout: timeoutMs,
    });
    return stdout;
  };
  const stop = async () => {
    killIfAlive(pid, "SIGTERM");
    await waitFor("systemd-nspawn to exit", () => !alive(pid), 20_000).catch(() => {
      killIfAlive(pid, "SIGKILL");
    });
  };
  try {
    await waitFor("the container's systemd", () => {
      if (nspawn.exitCode !== null)
        throw new Error(`systemd-nspawn exited ${nspawn.exitCode}:\n${log}`);
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      const first = Number(children[0]);
      if (!first || readFileSync(`/proc/${first}/comm`, "utf8").trim() !== "systemd") return false;
      leader = first;
      return true;
    });
    await waitFor("the container to finish booting", async () => {
      const state = await exec(["systemctl", "is-system-running"]).catch(
        (e: { stdout?: string }) => e.stdout ?? "",
      );
      return ["running", "degraded"].includes(state.trim());
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const execInNetwork = async (argv: readonly string[]): Promise<string> => {
    const { stdout } = await run("nsenter", ["-t", String(leader), "-n", "--", ...argv], {
      timeout: 10_000,
    });
    return stdout;
  };
  return { leader, exec, execInNetwork, path: (inside) => `/proc/${leader}/root${inside}`, stop };
}
