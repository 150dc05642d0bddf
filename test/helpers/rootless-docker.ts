import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "./expect-soon.js";

const run = promisify(execFile);

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export function testUser(name: string): TestUser {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`${name} is not in /etc/passwd`);
  const fields = line.split(":");
  return {
    name,
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    home: fields[5] ?? `/home/${name}`,
  };
}

/** argv prefix that runs a program as the user with a clean environment. */
export function asUser(user: TestUser, env: Record<string, string>): string[] {
  const vars = Object.entries({
    HOME: user.home,
    PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    ...env,
  }).map(([k, v]) => `${k}=${v}`);
  return [
    "setpriv",
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    "--init-groups",
    "env",
    "-i",
    ...vars,
  ];
}

function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** All descendants of pid, from /proc (children of every thread). */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift() ?? 0;
    for (const tid of readOr(() => readdirSync(`/proc/${current}/task`), [] as string[])) {
      const text = readOr(() => readFileSync(`/proc/${current}/task/${tid}/children`, "utf8"), "");
      for (const child of text
        .split(/\s+/)
        .filter((f) => /^\d+$/.test(f))
        .map(Number)) {
        if (!found.includes(child)) {
          found.push(child);
          queue.push(child);
        }
      }
    }
  }
  return found;
}

/**
 * Sends `signal` to `pid` if it is alive; a process that exits between the look and the kill
 * (a driver dying with its rootlesskit) is what was wanted, not an error.
 */
export function killIfAlive(pid: number, signal: NodeJS.Signals): void {
  if (!alive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

// The one poll-until lives in expect-soon.ts; re-exported for the helpers that start processes.
export { waitFor };

export interface RootlessDocker {
  readonly user: TestUser;
  readonly runtimeDir: string;
  /** The pid we started: rootlesskit's parent (setsid, setpriv, env and the script all exec). */
  readonly pid: number;
  readonly child: ChildProcess;
  readonly log: () => string;
  docker(...args: string[]): Promise<string>;
  /** Every process we started, the parent first. */
  processTree(): number[];
  stop(): Promise<void>;
}

/** A real rootless dockerd for the user: dockerd-rootless.sh with vfs, as Debian ships it. */
export async function startRootlessDocker(
  user: TestUser,
  extraEnv: Record<string, string> = {},
  /** Where XDG_RUNTIME_DIR is, e.g. /run/user/UID as logind makes it; a new temp dir if not. */
  runtimeDirAt?: string,
  /** More flags for dockerd (after --storage-driver=vfs), e.g. --data-root. */
  dockerdFlags: readonly string[] = [],
): Promise<RootlessDocker> {
  if (runtimeDirAt) mkdirSync(runtimeDirAt, { recursive: true });
  const runtimeDir = runtimeDirAt ?? mkdtempSync(join(tmpdir(), "rootless-exporter-xdg-"));
  chownSync(runtimeDir, user.uid, user.gid);
  chmodSync(runtimeDir, 0o700);
  const argv = [
    ...asUser(user, { XDG_RUNTIME_DIR: runtimeDir, ...extraEnv }),
    "/usr/share/docker.io/contrib/dockerd-rootless.sh",
    "--storage-driver=vfs",
    ...dockerdFlags,
  ];
  let log = "";
  const child = spawn("setsid", argv, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
  child.stdout?.on("data", (c: Buffer) => (log += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  const pid = child.pid ?? -1;
  const tree = new Set<number>([pid]);
  const remember = () => {
    for (const p of descendants(pid)) tree.add(p);
  };
  const docker = async (...args: string[]): Promise<string> => {
    const [file = "", ...rest] = [
      ...asUser(user, { DOCKER_HOST: `unix://${runtimeDir}/docker.sock` }),
      "docker",
      ...args,
    ];
    const { stdout } = await run(file, rest, { timeout: 60_000 });
    return stdout;
  };
  const handle: RootlessDocker = {
    user,
    runtimeDir,
    pid,
    child,
    log: () => log,
    docker,
    processTree: () => {
      remember();
      return [...tree];
    },
    async stop() {
      remember();
      killIfAlive(pid, "SIGTERM");
      await waitFor("rootlesskit to exit", () => !alive(pid), 20_000).catch(() => undefined);
      for (const p of tree) killIfAlive(p, "SIGKILL");
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor("docker.sock to answer", async () => {
      remember();
      if (child.exitCode !== null)
        throw new Error(`dockerd-rootless.sh exited ${child.exitCode}:\n${log}`);
      if (!existsSync(join(runtimeDir, "docker.sock"))) return false;
      return docker("version", "--format", "{{.Server.Version}}").then(
        () => true,
        () => false,
      );
    });
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

/** A busybox-static rootfs tar for `docker import` (no registry is reachable). */
export async function makeBusyboxTar(dir: string): Promise<string> {
  const root = join(dir, "busybox-rootfs");
  for (const sub of ["bin", "www", "tmp"]) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync("/bin/busybox", join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  for (const applet of ["sh", "httpd", "nc", "sleep", "cat", "dd", "wget"]) {
    symlinkSync("busybox", join(root, "bin", applet));
  }
  writeFileSync(join(root, "www/index.html"), "hello from a rootless container\n".repeat(100));
  const tar = join(dir, "busybox.tar");
  await run("tar", ["-C", root, "-cf", tar, "."]);
  chmodSync(tar, 0o644);
  chmodSync(dir, 0o755);
  return tar;
}
