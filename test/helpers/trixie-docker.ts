import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { alive, descendants, killIfAlive, waitFor } from "./rootless-docker.js";
import type { TrixieContainer } from "./trixie.js";

const run = promisify(execFile);

/** A rootless Docker 26 in the Debian 13 container, started by Docker's own script. */
export interface ContainerDocker {
  /** XDG_RUNTIME_DIR inside the container. */
  readonly runtimeDir: string;
  /** rootlesskit's parent as the host sees it (nsenter, setpriv, env and the script exec into it). */
  readonly pid: number;
  readonly log: () => string;
  docker(...args: string[]): Promise<string>;
  /** Every process started for it, as host pids, the parent first. */
  processTree(): number[];
  stop(): Promise<void>;
}

let starts = 0;

/**
 * `dockerd-rootless.sh --storage-driver=vfs --ip-forward=false` as the container's user, with
 * `env` choosing the drivers (DOCKERD_ROOTLESS_ROOTLESSKIT_NET, ..._PORT_DRIVER, ..._MTU, ...).
 * nspawn mounts /proc/sys read-only, hence --ip-forward=false.
 */
export async function startContainerDocker(
  container: TrixieContainer,
  env: Record<string, string>,
  /** The runtime dir of an earlier daemon, to start it again where an exporter watches. */
  again?: string,
): Promise<ContainerDocker> {
  const { user } = container;
  const runtimeDir = again ?? `/run/rlx-xdg-${process.pid}-${++starts}`;
  await container.exec(["install", "-d", "-m", "0700", "-o", String(user.uid), runtimeDir]);
  const argv = [
    ...container.asUser({ XDG_RUNTIME_DIR: runtimeDir, ...env }),
    "/usr/share/docker.io/contrib/dockerd-rootless.sh",
    "--storage-driver=vfs",
    "--ip-forward=false",
  ];
  let log = "";
  const child = spawn(argv[0] ?? "nsenter", argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
  child.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
  const nsenter = child.pid ?? -1;
  const tree = new Set<number>();
  const remember = () => {
    for (const p of descendants(nsenter)) tree.add(p);
  };
  const docker = async (...args: string[]): Promise<string> => {
    const [file = "", ...rest] = [
      ...container.asUser({ DOCKER_HOST: `unix://${runtimeDir}/docker.sock` }),
      "docker",
      ...args,
    ];
    const { stdout } = await run(file, rest, { timeout: 90_000 });
    return stdout;
  };
  let parent = -1;
  const handle: ContainerDocker = {
    runtimeDir,
    get pid() {
      return parent;
    },
    log: () => log,
    docker,
    processTree: () => {
      remember();
      return [...tree];
    },
    async stop() {
      remember();
      if (parent > 0) killIfAlive(parent, "SIGTERM");
      await waitFor("rootlesskit to exit", () => !alive(parent), 20_000).catch(() => undefined);
      for (const p of [nsenter, ...tree]) killIfAlive(p, "SIGKILL");
      await container.exec(["rm", "-rf", runtimeDir]).catch(() => undefined);
    },
  };
  try {
    await waitFor(
      "docker.sock to answer",
      async () => {
        remember();
        if (child.exitCode !== null)
          throw new Error(`dockerd-rootless.sh exited ${child.exitCode}:\n${log}`);
        if (!existsSync(container.path(`${runtimeDir}/docker.sock`))) return false;
        return docker("version", "--format", "{{.Server.Version}}").then(
          () => true,
          () => false,
        );
      },
      120_000,
    );
    // nsenter forks once into the pid namespace; its only child is rootlesskit's parent.
    parent = descendants(nsenter)[0] ?? -1;
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}
