import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { promisify } from "node:util";
import { alive, descendants, killIfAlive, waitFor } from "./rootless-docker.js";

const run = promisify(execFile);

/** The Debian 13 root of scripts/trixie-root.sh (rootlesskit 2, passt, Docker 26, Node 20). */
export const trixieRoot = process.env["ROOTLESS_TEST_TRIXIE_ROOT"];
export const trixieUserName = process.env["ROOTLESS_TEST_TRIXIE_USER"] ?? "rlx-pasta";
/** The same root from Debian unstable (DEBIAN_SUITE=sid): Docker 28, rootlesskit 2, Node 24. */
export const sidRoot = process.env["ROOTLESS_TEST_SID_ROOT"];

/** Why the ring cannot run here, or undefined when it can. */
export function trixieMissing(
  root = trixieRoot,
  variable = "ROOTLESS_TEST_TRIXIE_ROOT",
): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (systemd-nspawn)";
  if (!root) return `${variable} is not set (scripts/test-all.sh builds it)`;
  if (!existsSync(`${root}/.rootless-exporter-complete`))
    return `${root} is not a complete root (run scripts/trixie-root.sh)`;
  if (!existsSync("/usr/bin/systemd-nspawn")) return "systemd-nspawn is not installed";
  return undefined;
}

export interface ContainerUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/**
 * One systemd-nspawn container on the Debian 13 root, sharing the host's network (so /metrics
 * and pasta's forwarded ports are on the host's loopback) but with its own pid and mount
 * namespaces, /run and /tmp. Everything of a test runs in it through nsenter, so rootlesskit,
 * dockerd, the exporter and the faults all live in one pid namespace.
 */
export interface TrixieContainer {
  /** The container's init (nspawn's stub init), as the host sees it. */
  readonly leader: number;
  readonly user: ContainerUser;
  /** argv that runs a program in the container as the user, with a clean environment. */
  asUser(env: Record<string, string>): string[];
  /** Runs a program in the container as root and returns its stdout. */
  exec(argv: readonly string[], timeoutMs?: number): Promise<string>;
  /** A path inside the container, reachable from the host. */
  path(inside: string): string;
  /** Every process in the container's pid namespace, as host pids. */
  pids(): number[];
  /** The host's pid of a process the container knows as `pid`. */
  hostPid(pid: number): number | undefined;
  stop(): Promise<void>;
}

function userOf(root: string, name: string): ContainerUser {
  const line = readFileSync(`${root}/etc/passwd`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`${name} is not in ${root}/etc/passwd (run scripts/trixie-root.sh)`);
  const fields = line.split(":");
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? "/" };
}

/** NSpid of /proc/PID/status: the pid in each nested pid namespace, outermost first. */
function nsPids(pid: number): number[] {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("NSpid:"));
    return (line ?? "").split(/\s+/).slice(1).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function startTrixie(
  root: string,
  userName: string,
  binds: readonly { readonly host: string; readonly inside: string }[],
  /** A network namespace of its own (only lo) instead of the host's. */
  privateNetwork = false,
  /**
   * /proc/sys writable (nspawn mounts it read-only): Docker 28 refuses a container whose
   * interface's IPv6 it cannot switch off, where Docker 26 took DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE.
   */
  writableProcSys = false,
  /** More systemd-nspawn flags, e.g. --private-users=0:65536 for a narrower ID map. */
  nspawnArgs: readonly string[] = [],
): Promise<TrixieContainer> {
  const user = userOf(root, userName);
  // The flags the issue names: no machined here (--register=no, --keep-unit), the host's
  // /dev/net/tun for slirp4netns and pasta, @keyring for Docker. --as-pid2 puts nspawn's stub
  // init at pid 1, which reaps orphans (pasta and the agents are reparented there).
  const args = [
    "-q",
    "-D",
    root,
    "--register=no",
    "--keep-unit",
    "--bind=/dev/net/tun",
    "--system-call-filter=@keyring",
    "--as-pid2",
    ...(privateNetwork ? ["--private-network"] : []),
    ...binds.map((b) => `--bind-ro=${b.host}:${b.inside}`),
    ...nspawnArgs,
    "/usr/bin/sleep",
    "infinity",
  ];
  let log = "";
  const nspawn: ChildProcess = spawn("systemd-nspawn", args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...(writableProcSys && { SYSTEMD_NSPAWN_API_VFS_WRITABLE: "1" }) },
  });
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
      for (const p of [pid, ...descendants(pid)]) killIfAlive(p, "SIGKILL");
    });
  };
  try {
    await waitFor("the container's init", () => {
      if (nspawn.exitCode !== null)
        throw new Error(`systemd-nspawn exited ${nspawn.exitCode}:\n${log}`);
      const first = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim());
      if (!first || nsPids(first).at(-1) !== 1) return false;
      // Ready once the payload (sleep, pid 2) runs.
      if (!descendants(first).some((d) => nsPids(d).at(-1) === 2)) return false;
      leader = first;
      return true;
    });
    // The user's runtime dir on the container's own /run (a tmpfs).
    const runtime = `/run/user/${user.uid}`;
    await exec(["mkdir", "-p", runtime]);
    await exec(["chown", `${user.uid}:${user.gid}`, runtime]);
    await exec(["chmod", "0700", runtime]);
  } catch (err) {
    await stop();
    throw err;
  }
  // Processes entered with nsenter are the container's, but not its init's descendants.
  const pids = (): number[] => {
    const ns = readlinkSync(`/proc/${leader}/ns/pid`);
    return readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .map(Number)
      .filter((p) => {
        try {
          return readlinkSync(`/proc/${p}/ns/pid`) === ns;
        } catch {
          return false;
        }
      });
  };
  return {
    leader,
    user,
    asUser: (env) => [
      "nsenter",
      "-t",
      String(leader),
      "-a",
      `--setuid=${user.uid}`,
      `--setgid=${user.gid}`,
      "--",
      // nsenter 2.38 does not pass signals on to the process it forks: the parent-death signal
      // makes a SIGTERM to nsenter reach the program.
      "/usr/bin/setpriv",
      "--pdeathsig=TERM",
      "/usr/bin/env",
      "-i",
      `HOME=${user.home}`,
      "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ],
    exec,
    path: (inside) => `/proc/${leader}/root${inside}`,
    pids,
    hostPid: (inner) => pids().find((p) => nsPids(p).at(-1) === inner),
    stop,
  };
}
