import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { once } from "node:events";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { join } from "node:path";
import type { PrivateBus } from "./dbus.js";
import { Login1Double, Systemd1Double, startPrivateBus } from "./dbus.js";
import type { FixtureTree } from "./fixtures.js";
import { materializeFixture } from "./fixtures.js";
import { FakeProcfs } from "./procfs.js";

/** The rootless daemon a fixture host runs: rootlesskit's drivers and what dockerd reports. */
export interface DaemonSpec {
  readonly network: "pasta" | "slirp4netns";
  /** "implicit" is pasta's: rootlesskit then has no port driver and no ports API. */
  readonly port: "builtin" | "implicit" | "slirp4netns";
  readonly storageDriver: string;
  readonly dataRootFs: string;
  /** /info's `Warnings`: null when there are none, as dockerd sends it. */
  readonly warnings: readonly string[] | null;
  readonly linger: boolean;
  /** ActiveState, UnitFileState and NRestarts of the user units. */
  readonly units: Readonly<Record<string, string>>;
  readonly unitFiles: Readonly<Record<string, string>>;
  readonly restarts: Readonly<Record<string, number>>;
  /** The user's docker CLI: the current context "rootless" (as the setup tool leaves it) or none. */
  readonly context: "rootless" | "none";
  /** A rootful /run/docker.sock (reached as /var/run/docker.sock) the user can write. */
  readonly rootfulSocket: boolean;
}

/**
 * The fixture hosts that run a rootless Docker (test/fixtures/NAME), for the goldens and the
 * fleet. `healthy`: set up as the guide says, with pasta, every check passes. `debian12`: Debian
 * 12's docker.io defaults (slirp4netns, the builtin port driver), linger off, docker.service
 * failed, the data root on NFS, and the system daemon's socket open to alice (who owns it here:
 * the fixture's files are the test user's, so the owner class of its mode is what applies).
 * failed, the data root on NFS, dockerd warning of the controllers it lacks.
 */
export const fixtureDaemons: Readonly<Record<"healthy" | "debian12", DaemonSpec>> = {
  healthy: {
    network: "pasta",
    port: "implicit",
    storageDriver: "overlay2",
    dataRootFs: "ext4",
    warnings: null,
    linger: true,
    units: { "docker.service": "active", "dbus.service": "active", "dbus.socket": "active" },
    unitFiles: { "docker.service": "enabled", "dbus.service": "static", "dbus.socket": "static" },
    restarts: { "docker.service": 0, "dbus.service": 0 },
    context: "rootless",
    rootfulSocket: false,
  },
  debian12: {
    network: "slirp4netns",
    port: "builtin",
    storageDriver: "overlay2",
    dataRootFs: "nfs4",
    // What dockerd 20.10 says on cgroup v2 with only memory and pids delegated (Debian 12's default).
    warnings: [
      "WARNING: No cpu cfs quota support",
      "WARNING: No cpu cfs period support",
      "WARNING: No cpu shares support",
      "WARNING: No cpuset support",
      "WARNING: No io.weight support",
      "WARNING: No io.weight (per device) support",
      "WARNING: No io.max (rbps) support",
      "WARNING: No io.max (wbps) support",
      "WARNING: No io.max (riops) support",
      "WARNING: No io.max (wiops) support",
    ],
    linger: false,
    units: { "docker.service": "failed", "dbus.service": "active", "dbus.socket": "active" },
    unitFiles: { "docker.service": "enabled", "dbus.service": "static", "dbus.socket": "static" },
    restarts: { "docker.service": 5, "dbus.service": 0 },
    context: "none",
    rootfulSocket: true,
  },
};

export interface RunningHost {
  readonly tree: FixtureTree;
  /** The uid the fixture's alice is given: the test's own, so that what it creates is alice's. */
  readonly uid: number;
  /** Environment for the exporter: the private system and user buses. */
  readonly env: NodeJS.ProcessEnv;
  readonly stop: () => Promise<void>;
}

export const parentPid = 4200;
const dataRoot = "/home/alice/.local/share/docker";
export const childPid = 4250;
export const dockerdPid = 4280;
export const driverPid = 4300;

/**
 * alice becomes the running user (uid and primary gid), and her cgroup and her subordinate ID
 * lines by uid follow her uid: a fixture host then reads the same as root and as anyone else.
 */
export function adoptAlice(dir: string, uid: number, gid: number): void {
  const etc = join(dir, "root/etc");
  const rewrite = (file: string, edit: (line: string) => string) =>
    writeFileSync(
      join(etc, file),
      readFileSync(join(etc, file), "utf8").split("\n").map(edit).join("\n"),
    );
  // Another account of the fixture with the running uid (bob is 1001) takes alice's 1000 instead:
  // two logins on one uid would share subordinate ID lines, and the golden would depend on who runs.
  const swap = (line: string, id: number, to: number) =>
    line.replace(new RegExp(`^([^:]*:x):${id}:`), `$1:${to}:`);
  rewrite("passwd", (line) =>
    line.startsWith("alice:")
      ? line.replace(/^alice:x:\d+:\d+:/, `alice:x:${uid}:${gid}:`)
      : swap(line, uid, 1000),
  );
  rewrite("group", (line) =>
    line.startsWith("alice:")
      ? line.replace(/^alice:x:\d+:/, `alice:x:${gid}:`)
      : swap(line, gid, 1000),
  );
  for (const file of ["subuid", "subgid"])
    if (statSync(join(etc, file), { throwIfNoEntry: false }))
      rewrite(file, (line) => line.replace(/^1000:/, `${uid}:`));
  const slice = join(dir, "sys/fs/cgroup/user.slice");
  const old = join(slice, "user-1000.slice");
  if (uid !== 1000 && statSync(old, { throwIfNoEntry: false })) {
    renameSync(join(old, "user@1000.service"), join(old, `user@${uid}.service`));
    renameSync(old, join(slice, `user-${uid}.slice`));
  }
}

/** An HTTP server on a unix socket answering GET paths from a table (404 otherwise). */
async function serveSocket(path: string, routes: Record<string, unknown>): Promise<Server> {
  const server = createServer((req, res) => {
    const body = routes[req.url ?? ""];
    if (body === undefined) {
      res.writeHead(404, { "Content-Type": "application/json" }).end('{"message":"not found"}');
      return;
    }
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const type = typeof body === "string" ? "text/plain" : "application/json";
    res.writeHead(200, { "Content-Type": type }).end(text);
  });
  server.listen(path);
  await once(server, "listening");
  return server;
}

/** /proc/locks format of a lock the parent holds on `file` (device as the kernel prints it). */
function lockLine(file: string, pid: number): string {
  const { dev, ino } = statSync(file);
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  const device = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
  return `1: FLOCK  ADVISORY  WRITE ${pid} ${device}:${ino} 0 EOF\n`;
}

/**
 * A fixture host with a rootless Docker running for alice: a generated procfs for rootlesskit's
 * parent and child, dockerd and the network driver; api.sock and docker.sock answering as
 * rootlesskit and dockerd do; logind and the systemd user manager as D-Bus doubles on private
 * buses. Unprivileged: alice is given the test's own uid.
 */
export async function startRunningHost(fixture: string, spec: DaemonSpec): Promise<RunningHost> {
  const tree = materializeFixture(fixture);
  const uid = process.getuid?.() ?? 1000;
  const gid = process.getgid?.() ?? 1000;
  adoptAlice(tree.dir, uid, gid);
  const procfs = new FakeProcfs(tree.dir);
  const runtimeDir = `/run/user/${uid}`;
  const stateDir = `${runtimeDir}/dockerd-rootless`;
  const onHost = (path: string) => join(tree.dir, "root", path);
  mkdirSync(onHost(stateDir), { recursive: true });
  // The data root /info names, with what dockerd keeps there (measured by statfs: this machine's).
  for (const sub of ["overlay2", "image", "containers"])
    mkdirSync(onHost(`${dataRoot}/${sub}`), { recursive: true });
  chmodSync(onHost(runtimeDir), 0o700);
  procfs.writeRoot(`${runtimeDir}/docker.pid`, `${dockerdPid}\n`);
  procfs.writeRoot(`${stateDir}/child_pid`, String(childPid));
  procfs.writeRoot(`${stateDir}/lock`, "");
  procfs.write("locks", lockLine(onHost(`${stateDir}/lock`), parentPid));

  const pasta = spec.network === "pasta";
  const common = { uid, startTicks: 0 };
  procfs.add({
    ...common,
    pid: parentPid,
    ppid: 1,
    comm: "rootlesskit",
    exe: "/usr/bin/rootlesskit",
    startTicks: 123_400,
    argv: [
      "rootlesskit",
      `--state-dir=${stateDir}`,
      `--net=${spec.network}`,
      "--mtu=65520",
      "--disable-host-loopback",
      `--port-driver=${spec.port}`,
      "--copy-up=/etc",
      "--copy-up=/run",
      "--propagation=rslave",
      "dockerd-rootless.sh",
    ],
    children: pasta ? [childPid] : [childPid, driverPid],
  });
  procfs.add({
    ...common,
    pid: childPid,
    ppid: parentPid,
    comm: "exe",
    exe: "/usr/bin/rootlesskit",
    startTicks: 123_410,
    argv: ["/proc/self/exe", `--net=${spec.network}`, "dockerd-rootless.sh"],
    children: [dockerdPid],
  });
  procfs.add({
    ...common,
    pid: dockerdPid,
    ppid: childPid,
    comm: "dockerd",
    exe: "/usr/bin/dockerd",
    startTicks: 123_500,
    argv: ["dockerd"],
    // Two inotify instances among its descriptors: what rootless_inotify_instances counts.
    fds: [
      "/dev/null",
      "/dev/null",
      "/dev/null",
      "anon_inode:inotify",
      "socket:[4711]",
      "anon_inode:[eventpoll]",
      "anon_inode:inotify",
    ],
  });
  procfs.add({
    ...common,
    pid: driverPid,
    // pasta daemonises: its parent is init, and it is found by the child pid in its arguments.
    ppid: pasta ? 1 : parentPid,
    comm: pasta ? "pasta" : "slirp4netns",
    exe: pasta ? "/usr/bin/passt" : "/usr/bin/slirp4netns",
    startTicks: 123_420,
    rssKiB: 6144,
    argv: pasta
      ? ["pasta", "--config-net", "--mtu", "65520", "--netns-only", String(childPid)]
      : [
          "slirp4netns",
          "--mtu",
          "65520",
          "-r",
          "3",
          "--disable-host-loopback",
          String(childPid),
          "tap0",
        ],
  });
  const netDev =
    "Inter-|   Receive                                                |  Transmit\n" +
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
    "    lo:    4096      40    0    0    0     0          0         0     4096      40    0    0    0     0       0          0\n" +
    "  tap0: 1048576    1024    1    2    0     0          0         0   524288     512    0    1    0     0       0          0\n";
  mkdirSync(join(procfs.roots.procfs, String(childPid), "net"), { recursive: true });
  procfs.write(`${childPid}/net/dev`, netDev);
  procfs.write(
    `${childPid}/uid_map`,
    `         0 ${uid.toString().padStart(10)}          1\n         1     100000      65536\n`,
  );
  procfs.write(
    `${childPid}/gid_map`,
    `         0 ${gid.toString().padStart(10)}          1\n         1     100000      65536\n`,
  );
  procfs.write(
    `${dockerdPid}/mountinfo`,
    `25 1 254:1 / / rw,relatime shared:1 - ${spec.dataRootFs} /dev/vda1 rw\n` +
      "26 25 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n",
  );

  const servers: Server[] = [];
  if (spec.context === "rootless") {
    // What `dockerd-rootless-setuptool.sh install` leaves: a context "rootless", in use.
    const meta = `/home/alice/.docker/contexts/meta/${createHash("sha256").update("rootless").digest("hex")}/meta.json`;
    procfs.writeRoot("/home/alice/.docker/config.json", '{"currentContext":"rootless"}\n');
    procfs.writeRoot(
      meta,
      JSON.stringify({
        Name: "rootless",
        Metadata: { Description: "Rootless mode" },
        Endpoints: { docker: { Host: `unix://${runtimeDir}/docker.sock`, SkipTLSVerify: false } },
      }),
    );
  }
  if (spec.rootfulSocket) {
    mkdirSync(onHost("/var"), { recursive: true });
    symlinkSync("/run", onHost("/var/run"));
    servers.push(await serveSocket(onHost("/run/docker.sock"), { "/_ping": "OK" }));
    chmodSync(onHost("/run/docker.sock"), 0o660);
  }
  const info: Record<string, unknown> = {
    apiVersion: "1.1.1",
    version: "2.3.1",
    stateDir,
    childPID: childPid,
    networkDriver: { driver: spec.network, dns: ["10.0.2.3"], childIP: "10.0.2.100" },
    ...(spec.port !== "implicit" && {
      portDriver: { driver: spec.port, protos: ["tcp", "tcp4", "tcp6", "udp"] },
    }),
  };
  const ports = [
    { id: 1, spec: { proto: "tcp", parentIP: "0.0.0.0", parentPort: 8080, childPort: 80 } },
    { id: 2, spec: { proto: "tcp6", parentIP: "::", parentPort: 8443, childPort: 443 } },
    { id: 3, spec: { proto: "udp", parentIP: "0.0.0.0", parentPort: 5353, childPort: 53 } },
  ];
  servers.push(
    await serveSocket(onHost(`${stateDir}/api.sock`), {
      "/v1/info": info,
      // pasta's implicit port driver has no ports API.
      ...(spec.port !== "implicit" && { "/v1/ports": ports }),
    }),
  );
  servers.push(
    await serveSocket(onHost(`${runtimeDir}/docker.sock`), {
      "/_ping": "OK",
      "/info": {
        ServerVersion: "27.3.1",
        Driver: spec.storageDriver,
        CgroupDriver: "systemd",
        CgroupVersion: "2",
        DockerRootDir: dataRoot,
        Warnings: spec.warnings,
        SecurityOptions: ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"],
        ContainersRunning: 2,
        ContainersPaused: 1,
        ContainersStopped: 3,
      },
    }),
  );

  const busDir = join(tree.dir, "bus");
  mkdirSync(busDir);
  const buses: PrivateBus[] = [];
  const system = await startPrivateBus(busDir, "system");
  buses.push(system);
  const session = await startPrivateBus(busDir, "session");
  buses.push(session);
  const login1 = new Login1Double();
  login1.linger.set(uid, spec.linger);
  await login1.serve(system.address);
  const systemd = new Systemd1Double();
  for (const [unit, state] of Object.entries(spec.units)) systemd.states.set(unit, state);
  for (const [unit, state] of Object.entries(spec.unitFiles)) systemd.fileStates.set(unit, state);
  for (const [unit, count] of Object.entries(spec.restarts)) systemd.restarts.set(unit, count);
  await systemd.serve(session.address);
  // The system manager: systemd-oomd installed but not running, user@.service as Fedora ships it.
  const system1 = new Systemd1Double();
  system1.states.set("systemd-oomd.service", "inactive");
  system1.oomPressure.set(`user@${uid}.service`, "kill");
  system1.oomPressure.set(`user-${uid}.slice`, "auto");
  system1.oomPressure.set("user.slice", "auto");
  await system1.serve(system.address);

  return {
    tree,
    uid,
    env: {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      DBUS_SYSTEM_BUS_ADDRESS: system.address,
      DBUS_SESSION_BUS_ADDRESS: session.address,
    },
    async stop() {
      login1.stop();
      systemd.stop();
      system1.stop();
      for (const server of servers) server.close();
      for (const bus of buses) await bus.stop();
      tree.remove();
    },
  };
}
