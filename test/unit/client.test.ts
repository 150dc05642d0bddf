import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clientEndpoint } from "../../src/collectors/client/checks.js";
import { clientCollector } from "../../src/collectors/client/client.js";
import type { ClientFacts } from "../../src/collectors/client/client.js";
import {
  contextMetaPath,
  endpointKind,
  expandSpecifiers,
  readCurrentContext,
} from "../../src/collectors/client/endpoints.js";
import { modeGrants, readRootfulSocket } from "../../src/collectors/client/rootful.js";
import { MountTable } from "../../src/host/mount-table.js";
import type { Target } from "../../src/host/target.js";
import { collectorContext } from "../helpers/context.js";
import { FakeProcfs } from "../helpers/procfs.js";

const isRoot = process.getuid?.() === 0;
/** As root the user is uid 1000 and their files are chowned to it; else the test's own uid. */
const uid = isRoot ? 1000 : (process.getuid?.() ?? 1000);
const target: Target = {
  name: "alice",
  uid,
  gid: uid,
  home: "/home/alice",
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
};
const rootless = `unix:///run/user/${uid}/docker.sock`;

describe("client: endpointKind", () => {
  it.each([
    ["unix:///run/user/1000/docker.sock", "unix_rootless"],
    ["unix:///run/user/1000//docker.sock", "unix_rootless"],
    ["unix:///run/user/1000/../1000/docker.sock", "unix_rootless"],
    ["unix:///var/run/docker.sock", "unix_rootful"],
    ["unix:///run/docker.sock", "unix_rootful"],
    ["unix:///run/user/0/docker.sock", "unix_root_runtime"],
    ["unix:///run/user/1001/docker.sock", "unix_other"],
    ["unix:///home/alice/.docker/run/docker.sock", "unix_other"],
    ["unix://relative/docker.sock", "other"],
    ["tcp://127.0.0.1:2375", "tcp"],
    ["TCP://10.0.0.5:2376", "tcp"],
    ["ssh://alice@build", "ssh"],
    ["npipe:////./pipe/docker_engine", "other"],
    ["fd://", "other"],
    ["127.0.0.1:2375", "other"],
    ["", "other"],
  ])("%j is %s", (host, kind) => {
    expect(endpointKind(host, "/run/user/1000")).toBe(kind);
  });

  it.each([
    ["unix://%t/docker.sock", "unix:///run/user/1000/docker.sock"],
    ["unix://%h/.docker/run/docker.sock", "unix:///home/alice/.docker/run/docker.sock"],
    ["unix:///run/user/%U/docker.sock", "unix:///run/user/1000/docker.sock"],
    ["tcp://h:2375/%%t", "tcp://h:2375/%t"],
    ["unix://%q/x", "unix://%q/x"],
  ])("systemd specifiers: %j", (value, expanded) => {
    const alice = { ...target, uid: 1000, runtimeDir: "/run/user/1000" };
    expect(expandSpecifiers(value, alice)).toBe(expanded);
  });
});

describe("client: the socket's mode as the kernel judges it", () => {
  const socket = (mode: number) => ({ mode, uid: 0, gid: 998 });
  it.each([
    ["0660, the user in the group", 0o660, [1000, 998], true],
    ["0660, the user not in the group", 0o660, [1000], false],
    ["0666, anyone", 0o666, [1000], true],
    ["0606: the group class applies and denies", 0o606, [1000, 998], false],
    ["0600", 0o600, [1000, 998], false],
  ])("%s", (_name, mode, groups, writable) => {
    expect(modeGrants(socket(mode), 1000, groups, 2)).toBe(writable);
  });
  it("the owner class applies to the owner alone (0066 owned by the user: denied)", () => {
    expect(modeGrants({ mode: 0o066, uid: 1000, gid: 1000 }, 1000, [1000], 2)).toBe(false);
  });
});

describe("client: the user's files, read as hostile", () => {
  let procfs: FakeProcfs;
  const home = () => join(procfs.roots.rootfs, "home/alice");
  const config = () => join(home(), ".docker/config.json");
  const meta = (name: string) => join(procfs.roots.rootfs, contextMetaPath("/home/alice", name));
  const writeMeta = (name: string, host: string) => {
    mkdirSync(join(meta(name), ".."), { recursive: true });
    writeFileSync(
      meta(name),
      JSON.stringify({ Name: name, Endpoints: { docker: { Host: host } } }),
    );
  };
  const read = async () => {
    procfs.chownRoot("home/alice", uid);
    return readCurrentContext(procfs.roots, target);
  };

  beforeEach(() => {
    procfs = new FakeProcfs();
    mkdirSync(join(home(), ".docker"), { recursive: true });
  });
  afterEach(() => procfs.cleanup());

  it("no config.json, or no currentContext, or default: the default context", async () => {
    expect(await read()).toEqual({ state: "default" });
    writeFileSync(config(), '{"auths":{}}');
    expect(await read()).toEqual({ state: "default" });
    writeFileSync(config(), '{"currentContext":"default"}');
    expect(await read()).toEqual({ state: "default" });
  });

  it("a named context, followed to meta/<sha256 of its name>/meta.json", async () => {
    writeFileSync(config(), '{"currentContext":"rootless"}');
    writeMeta("rootless", rootless);
    expect(contextMetaPath("/home/alice", "rootless")).toBe(
      "/home/alice/.docker/contexts/meta/12b961af5feb3e9d39f93b2cefb9a1a944f18d02cca0cac2f04f5a982240605f/meta.json",
    );
    expect(await read()).toEqual({
      state: "named",
      name: "rootless",
      host: rootless,
      file: contextMetaPath("/home/alice", "rootless"),
    });
  });

  it("a context with no meta.json, and names docker refuses", async () => {
    writeFileSync(config(), '{"currentContext":"gone"}');
    expect(await read()).toEqual({ state: "not_found", name: "gone" });
    for (const name of ["../../etc", "a", 7, "x".repeat(300)]) {
      writeFileSync(config(), JSON.stringify({ currentContext: name }));
      expect(await read()).toEqual({ state: "invalid", file: "/home/alice/.docker/config.json" });
    }
    writeFileSync(config(), '{"currentContext":"nodocker"}');
    mkdirSync(join(meta("nodocker"), ".."), { recursive: true });
    writeFileSync(meta("nodocker"), '{"Endpoints":{"kubernetes":{}}}');
    expect(await read()).toMatchObject({ state: "invalid" });
  });

  const secret = "/etc/shadow";
  it.each([
    ["a symlink (to root's file)", () => symlinkSync(secret, config()), "unsafe"],
    ["a FIFO (never opened for a blocking read)", () => spawnSync("mkfifo", [config()]), "unsafe"],
    ["a directory", () => mkdirSync(config()), "unsafe"],
    ["huge", () => writeFileSync(config(), " ".repeat(300 * 1024)), "too_large"],
    [
      "nested 100 deep",
      () => writeFileSync(config(), "[".repeat(100) + "]".repeat(100)),
      "too_deep",
    ],
    ["not JSON", () => writeFileSync(config(), "{currentContext: x"), "malformed"],
    ["an array", () => writeFileSync(config(), "[]"), "malformed"],
  ])("config.json that is %s is refused, never echoed", async (_name, make, reason) => {
    make();
    const context = await read();
    expect(context).toEqual({ state: "refused", file: "/home/alice/.docker/config.json", reason });
    expect(JSON.stringify(context)).not.toContain(secret);
  });

  it("~/.docker symlinked elsewhere reads nothing", async () => {
    const elsewhere = join(procfs.roots.rootfs, "srv/dotfiles");
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, "config.json"), '{"currentContext":"rootless"}');
    spawnSync("rm", ["-rf", join(home(), ".docker")]);
    symlinkSync(elsewhere, join(home(), ".docker"));
    expect(await read()).toMatchObject({ state: "refused", reason: "unsafe" });
  });

  it("a context meta.json that is a symlink, a FIFO or nested deep is refused", async () => {
    writeFileSync(config(), '{"currentContext":"evil"}');
    mkdirSync(join(meta("evil"), ".."), { recursive: true });
    symlinkSync("/etc/passwd", meta("evil"));
    expect(await read()).toEqual({
      state: "refused",
      file: contextMetaPath("/home/alice", "evil"),
      reason: "unsafe",
    });
    spawnSync("rm", ["-f", meta("evil")]);
    spawnSync("mkfifo", [meta("evil")]);
    expect(await read()).toMatchObject({ state: "refused", reason: "unsafe" });
    spawnSync("rm", ["-f", meta("evil")]);
    writeFileSync(meta("evil"), "{".repeat(5000));
    expect(await read()).toMatchObject({ state: "refused", reason: "too_deep" });
  });
});

describe("client: the rootful socket", () => {
  let procfs: FakeProcfs;
  let server: Server | undefined;
  const mounts = new MountTable();
  const listen = async (path: string, mode: number) => {
    mkdirSync(join(path, ".."), { recursive: true });
    server = createServer();
    server.listen(path);
    await once(server, "listening");
    chmodSync(path, mode);
  };
  beforeEach(() => (procfs = new FakeProcfs()));
  afterEach(() => {
    server?.close();
    server = undefined;
    procfs.cleanup();
  });

  it("none: not writable, known", async () => {
    expect(await readRootfulSocket(procfs.roots, mounts, target)).toEqual({
      path: "/var/run/docker.sock",
      state: "missing",
      writable: false,
    });
  });

  it("/var/run a link to /run, resolved under the root filesystem", async () => {
    mkdirSync(join(procfs.roots.rootfs, "var"), { recursive: true });
    symlinkSync("/run", join(procfs.roots.rootfs, "var/run"));
    const owner = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    await listen(join(procfs.roots.rootfs, "run/docker.sock"), 0o660);
    const user = { uid: 4242, groups: [4242] };
    expect(await readRootfulSocket(procfs.roots, mounts, user)).toEqual({
      path: "/run/docker.sock",
      state: "socket",
      mode: 0o660,
      ownerUid: owner,
      groupGid: gid,
      access: "other",
      writable: false,
    });
    expect(
      await readRootfulSocket(procfs.roots, mounts, { uid: 4242, groups: [4242, gid] }),
    ).toMatchObject({ access: "group", writable: true });
  });

  it("a directory above it the user cannot search closes it", async () => {
    const gid = process.getgid?.() ?? 0;
    await listen(join(procfs.roots.rootfs, "var/run/docker.sock"), 0o666);
    chmodSync(join(procfs.roots.rootfs, "var/run"), 0o750);
    expect(
      await readRootfulSocket(procfs.roots, mounts, { uid: 4242, groups: [4242] }),
    ).toMatchObject({ access: "other", writable: false, closedDir: "/var/run" });
    expect(
      await readRootfulSocket(procfs.roots, mounts, { uid: 4242, groups: [gid] }),
    ).toMatchObject({ writable: true });
  });

  it("a regular file in its place is no socket", async () => {
    procfs.writeRoot("var/run/docker.sock", "");
    expect(await readRootfulSocket(procfs.roots, mounts, target)).toMatchObject({
      state: "not_socket",
      writable: false,
    });
  });
});

describe("client: the collector", () => {
  let procfs: FakeProcfs;
  const unitDir = () => join(procfs.roots.rootfs, "home/alice/.config/systemd/user");
  const collect = async (): Promise<ClientFacts> => {
    procfs.chownRoot("home/alice", uid);
    return clientCollector.collect(collectorContext(procfs.roots, target)) as Promise<ClientFacts>;
  };
  const init = { pid: 1, ppid: 0, uid: 0, comm: "systemd", exe: "/sbin/init", argv: ["init"] };
  beforeEach(() => {
    procfs = new FakeProcfs();
    procfs.add({ ...init, startTicks: 1 });
    mkdirSync(join(unitDir(), "docker.service.d"), { recursive: true });
    writeFileSync(join(unitDir(), "docker.service"), "[Service]\nExecStart=dockerd-rootless.sh\n");
  });
  afterEach(() => procfs.cleanup());

  it("DOCKER_HOST in a drop-in and a context on tcp: both reported, the rootless socket compared", async () => {
    writeFileSync(
      join(unitDir(), "docker.service.d/env.conf"),
      "[Service]\nEnvironment=DOCKER_HOST=unix://%t/docker.sock\n",
    );
    procfs.writeRoot("home/alice/.docker/config.json", '{"currentContext":"remote"}');
    const meta = contextMetaPath("/home/alice", "remote");
    procfs.writeRoot(meta, '{"Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2375"}}}');
    const facts = await collect();
    expect(facts.endpoints).toEqual([
      {
        source: "docker_host_unit",
        host: rootless,
        kind: "unix_rootless",
        file: "/home/alice/.config/systemd/user/docker.service.d/env.conf",
      },
      {
        source: "context",
        host: "tcp://10.0.0.5:2375",
        kind: "tcp",
        file: meta,
        context: "remote",
      },
    ]);
    expect(facts.unitFile).toBe("/home/alice/.config/systemd/user/docker.service");
    expect(facts.rootlessSocket).toBe(`/run/user/${uid}/docker.sock`);
  });

  it("an empty Environment= in a drop-in resets the unit's DOCKER_HOST (systemd.exec(5))", async () => {
    writeFileSync(
      join(unitDir(), "docker.service"),
      "[Service]\nEnvironment=DOCKER_HOST=tcp://127.0.0.1:2375\nExecStart=dockerd-rootless.sh\n",
    );
    writeFileSync(join(unitDir(), "docker.service.d/reset.conf"), "[Service]\nEnvironment=\n");
    expect((await collect()).endpoints).toEqual([]);
  });

  it("a docker.service or drop-in that is a symlink: DOCKER_HOST unknown, never passed as unset", async () => {
    writeFileSync(
      join(procfs.roots.rootfs, "elsewhere.conf"),
      "[Service]\nEnvironment=DOCKER_HOST=tcp://x:2375\n",
    );
    symlinkSync(
      join(procfs.roots.rootfs, "elsewhere.conf"),
      join(unitDir(), "docker.service.d/env.conf"),
    );
    const facts = await collect();
    const dropIn = "/home/alice/.config/systemd/user/docker.service.d/env.conf";
    expect(facts.unitRefused).toEqual([dropIn]);
    expect(facts.endpoints).toEqual([]);
    const verdict = clientEndpoint.evaluate({ facts: { client: facts }, target });
    expect(verdict.state).toBe("unknown");
    expect(verdict.summary.en).toContain(dropIn);
    rmSync(join(unitDir(), "docker.service"));
    symlinkSync(join(procfs.roots.rootfs, "elsewhere.conf"), join(unitDir(), "docker.service"));
    const unitLinked = await collect();
    expect(unitLinked.unitRefused).toEqual(["/home/alice/.config/systemd/user/docker.service"]);
    expect(clientEndpoint.evaluate({ facts: { client: unitLinked }, target }).state).toBe(
      "unknown",
    );
  });

  it("more drop-ins than are read: the directory is named refused, not its settings guessed", async () => {
    for (let i = 0; i < 65; i++)
      writeFileSync(join(unitDir(), `docker.service.d/${String(i).padStart(2, "0")}.conf`), "");
    const facts = await collect();
    expect(facts.unitRefused).toEqual(["/home/alice/.config/systemd/user/docker.service.d"]);
    expect(clientEndpoint.evaluate({ facts: { client: facts }, target }).state).toBe("unknown");
  });

  it("no DOCKER_HOST and the default context: no endpoint", async () => {
    const facts = await collect();
    expect(facts.endpoints).toEqual([]);
    expect(facts.context).toEqual({ state: "default" });
  });

  it.runIf(isRoot)("a dockerd root owns is the rootful daemon; the user's own is not", async () => {
    const dockerd = { ppid: 1, comm: "dockerd", exe: "/usr/bin/dockerd", argv: ["dockerd"] };
    procfs.add({ ...dockerd, pid: 812, uid: 0, startTicks: 10 });
    procfs.add({ ...dockerd, pid: 4280, uid, startTicks: 20 });
    procfs.add({ ...dockerd, pid: 900, uid: 0, comm: "containerd", startTicks: 30 });
    expect((await collect()).rootfulDockerdPids).toEqual([812]);
    procfs.remove(812);
    expect((await collect()).rootfulDockerdPids).toEqual([]);
  });

  it.runIf(isRoot)(
    "a setuid-root program a user runs by the name dockerd (/proc/PID root's) is no rootful daemon",
    async () => {
      // `ln -s /usr/bin/su ~/dockerd && ~/dockerd`: comm dockerd, /proc/PID root's, real uid the user's.
      const su = { ppid: 1, comm: "dockerd", exe: "/usr/bin/su", argv: ["/home/eve/dockerd"] };
      procfs.add({ ...su, pid: 4400, uid: 0, startTicks: 40 });
      procfs.write("4400/status", `Name:\tdockerd\nUid:\t${uid}\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
      expect((await collect()).rootfulDockerdPids).toEqual([]);
    },
  );

  it("root's processes hidden (hidepid: init's comm unreadable): unknown, not none", async () => {
    procfs.remove(1);
    expect((await collect()).rootfulDockerdPids).toBeUndefined();
  });
});
