import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { detachNetns, detachNetnsDockerd, dockerVersion } from "../../src/checks/detach-netns.js";
import { networkCollector } from "../../src/collectors/network/network.js";
import { dockerdBinary } from "../../src/collectors/network/detached.js";
import { readConfiguredNetwork } from "../../src/collectors/network/network-config.js";
import { MountTable } from "../../src/host/mount-table.js";
import type { HostRoots } from "../../src/host/paths.js";
import { HostState } from "../../src/collectors/state.js";
import { findSystemProgram } from "../../src/host/program-version.js";
import { rootlesskitCollector } from "../../src/collectors/rootlesskit/rootlesskit.js";
import { addRootlesskit } from "../../src/collectors/rootlesskit/module.js";
import { detachedNetnsPath, nsenterSpawn } from "../../src/host/netns.js";
import { rootlesskitBoolFlag } from "../../src/host/proc-parsers.js";
import { collectorContext } from "../helpers/context.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";
import type { FakeProcess } from "../helpers/procfs.js";
import { FakeProcfs } from "../helpers/procfs.js";

const rk = (...args: string[]) => ["/usr/bin/rootlesskit", ...args];

describe("rootlesskitBoolFlag: --detach-netns as urfave/cli reads rootlesskit's argv", () => {
  const cases: [string, string[], boolean | undefined][] = [
    ["not given", rk("--net=slirp4netns", "dockerd"), undefined],
    ["--detach-netns", rk("--net=pasta", "--detach-netns", "dockerd"), true],
    ["-detach-netns (one dash)", rk("-detach-netns", "dockerd"), true],
    ["--detach-netns=false", rk("--detach-netns=false", "dockerd"), false],
    ["--detach-netns=true", rk("--detach-netns=true", "dockerd"), true],
    ["the last one wins", rk("--detach-netns", "--detach-netns=0", "x"), false],
    // dockerd-rootless.sh: `rootlesskit ... $DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS $0 $@`
    [
      "as dockerd-rootless.sh passes it",
      rk(
        "--state-dir=/run/user/1000/dockerd-rootless",
        "--net=slirp4netns",
        "--mtu=65520",
        "--slirp4netns-sandbox=auto",
        "--disable-host-loopback",
        "--port-driver=builtin",
        "--copy-up=/etc",
        "--propagation=rslave",
        "--detach-netns",
        "/usr/bin/dockerd-rootless.sh",
      ),
      true,
    ],
    ["a value flag with its value apart", rk("--net", "pasta", "--detach-netns", "x"), true],
    ["a flag of the child's command", rk("--net=pasta", "dockerd", "--detach-netns"), undefined],
    ["after --", rk("--", "--detach-netns"), undefined],
    ["the value of a value flag", rk("--copy-up", "--detach-netns", "x"), undefined],
    ["--detach-netnsx is another flag", rk("--detach-netnsx=1", "x"), undefined],
  ];
  it.each(cases)("%s", (_name, argv, expected) => {
    expect(rootlesskitBoolFlag(argv, "detach-netns")).toBe(expected);
  });
});

describe("detachedNetnsPath: how rootlesskit's parent reaches $STATE_DIR/netns", () => {
  const cases: [string, number, string, string | undefined][] = [
    [
      "dockerd-rootless.sh's state dir",
      200,
      "/run/user/1000/dockerd-rootless",
      "/proc/200/root/run/user/1000/dockerd-rootless/netns",
    ],
    ["a relative path", 200, "run/user/1000", undefined],
    ["a dot-dot", 200, "/run/user/1000/../../root", undefined],
    ["a doubled slash", 200, "/run//user", undefined],
    ["a trailing slash", 200, "/tmp/rk/", undefined],
    ["a newline", 200, "/tmp/rk\n--mount", undefined],
    ["pid 0", 0, "/tmp/rk", undefined],
    ["too long", 200, `/${"a".repeat(1100)}`, undefined],
  ];
  it.each(cases)("%s", (_name, pid, dir, expected) => {
    expect(detachedNetnsPath("/proc", pid, dir)).toBe(expected);
  });

  it("nsenter enters the child's user namespace and the detached network namespace, as the user", () => {
    const how = nsenterSpawn(
      { pid: 200, netns: "/proc/200/root/tmp/rk/netns" },
      "cat",
      ["/proc/self/net/dev"],
      { uid: 1000, gid: 1000 },
    );
    expect(how.args).toEqual([
      "-U",
      "--net=/proc/200/root/tmp/rk/netns",
      "-t",
      "200",
      "cat",
      "/proc/self/net/dev",
    ]);
    expect(how.options.shell).toBe(false);
    if (process.geteuid?.() !== 1000) expect(how.options).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it("a number is the child's namespaces, as before", () => {
    expect(nsenterSpawn(4242, "p", [], { uid: 1000, gid: 1000 }).args).toEqual([
      "-U",
      "-n",
      "-t",
      "4242",
      "p",
    ]);
  });
});

describe("detach_netns_dockerd: the dockerd too old for the mode", () => {
  const detached = () => {
    const facts = healthyFacts();
    facts.rootlesskit = { ...facts.rootlesskit, detachNetns: true, netnsFile: true };
    return facts;
  };
  it.each([
    ["28.5.2+dfsg3", [28, 5, 2]],
    ["29.5.0-rc.1", [29, 5, 0]],
    ["v29.10.1", [29, 10, 1]],
    ["dev", undefined],
  ])("dockerVersion(%j)", (text, expected) => {
    expect(dockerVersion(text)).toEqual(expected);
  });

  const cases: [string, string | undefined, string | undefined, string][] = [
    ["Docker 28 by its API", "28.5.2", undefined, "fail"],
    ["Docker 29.4.3 by its API", "29.4.3", undefined, "fail"],
    ["Docker 29.5.0 by its API", "29.5.0", undefined, "pass"],
    ["Docker 30 by its API", "30.0.1", undefined, "pass"],
    ["no API, dockerd --version says 28.5.2", undefined, "28.5.2", "fail"],
    ["no API, dockerd --version says 29.5.1", undefined, "29.5.1", "pass"],
    ["no API, no version", undefined, undefined, "unknown"],
  ];
  it.each(cases)("%s: %s", (_name, api, binary, state) => {
    const facts = detached();
    if (api === undefined) {
      facts.docker = { ...facts.docker, apiUp: false, dockerdUp: false };
      delete (facts.docker as { info?: unknown }).info;
    } else
      facts.docker = {
        ...facts.docker,
        info: {
          rootless: true,
          containers: { running: 0, paused: 0, stopped: 0 },
          ...facts.docker.info,
          version: api,
        },
      };
    facts.network = {
      ...facts.network,
      dockerdBinary: { path: "/usr/sbin/dockerd", ...(binary && { version: binary }) },
    };
    const verdict = detachNetnsDockerd.evaluate({ target: alice, facts });
    expect(verdict.state).toBe(state);
    if (state === "fail") {
      expect(verdict.summary.en).toContain("29.5.0");
      expect(verdict.remediation?.en).toContain("DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS");
    }
  });

  it("without --detach-netns, any dockerd passes", () => {
    const facts = healthyFacts();
    facts.docker = {
      ...facts.docker,
      info: {
        rootless: true,
        containers: { running: 0, paused: 0, stopped: 0 },
        ...facts.docker.info,
        version: "20.10.24",
      },
    };
    expect(detachNetnsDockerd.evaluate({ target: alice, facts }).state).toBe("pass");
    expect(detachNetns.evaluate({ target: alice, facts }).state).toBe("pass");
  });

  it("the info check explains the mode and names the state dir's netns", () => {
    const verdict = detachNetns.evaluate({ target: alice, facts: detached() });
    expect(verdict.state).toBe("fail");
    expect(verdict.summary.en).toContain("/run/user/1000/dockerd-rootless/netns");
    expect(verdict.summary["zh-CN"]).toContain("主机的网络命名空间");
  });
});

describe("the collectors in detach-netns mode", () => {
  let procfs: FakeProcfs;
  const stateDir = "/run/user/1000/dockerd-rootless";
  const parent: FakeProcess = {
    pid: 100,
    ppid: 1,
    comm: "rootlesskit",
    uid: 1000,
    exe: "/usr/bin/rootlesskit",
    argv: rk(`--state-dir=${stateDir}`, "--net=slirp4netns", "--mtu=65520", "--detach-netns", "x"),
    startTicks: 5000,
    children: [200, 150],
  };
  const child: FakeProcess = { ...parent, pid: 200, ppid: 100, comm: "exe", startTicks: 5001 };
  const slirp: FakeProcess = {
    ...parent,
    pid: 150,
    comm: "slirp4netns",
    exe: "/usr/bin/slirp4netns",
    argv: ["slirp4netns", "--mtu", "65520", "--netns-type=path", "/proc/200/root/x", "tap0"],
    startTicks: 5003,
    children: [],
  };
  beforeEach(() => {
    procfs = new FakeProcfs();
    procfs.add(parent);
    procfs.add({ ...child, children: [] });
    procfs.add(slirp);
    mkdirSync(join(procfs.roots.procfs, "200", "net"));
    // The host's interfaces, as the child (in the host's network namespace) shows them.
    procfs.write(
      "200/net/dev",
      "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n" +
        "  eth0: 999999 9 0 0 0 0 0 0 888888 8 0 0 0 0 0 0\n",
    );
    procfs.writeRoot(`${stateDir}/child_pid`, "200");
    procfs.writeRoot(`${stateDir}/netns`, "");
    procfs.chownRoot("/run/user/1000", 1000);
  });
  afterEach(() => procfs.cleanup());

  it("rootlesskit: --detach-netns and the state dir's netns file", async () => {
    const facts = await rootlesskitCollector.collect(collectorContext(procfs.roots, alice));
    expect(facts).toMatchObject({ up: true, detachNetns: true, netnsFile: true });
    const lines: string[] = [];
    addRootlesskit(
      { add: (name, labels, v) => lines.push(`${name} ${labels.user} ${v}`) },
      "alice",
      facts,
    );
    expect(lines).toContain("rootlesskitDetachNetns alice 1");
  });

  it("rootlesskit: a symlink at netns is refused unfollowed, neither there nor missing", async () => {
    const path = join(procfs.roots.rootfs, stateDir, "netns");
    procfs.writeRoot(`${stateDir}/netns`, "");
    rmSync(path);
    symlinkSync("/proc/1/ns/net", path);
    const facts = await rootlesskitCollector.collect(collectorContext(procfs.roots, alice));
    expect(facts.detachNetns).toBe(true);
    expect(facts).not.toHaveProperty("netnsFile");
  });

  it("rootlesskit: without the flag, 0", async () => {
    procfs.add({ ...parent, argv: parent.argv.filter((a) => a !== "--detach-netns") });
    const facts = await rootlesskitCollector.collect(collectorContext(procfs.roots, alice));
    expect(facts.detachNetns).toBe(false);
  });

  it("network: the child's net/dev (the host's) is never reported as the user's", async () => {
    const notes: string[] = [];
    const facts = await networkCollector.collect(
      collectorContext(procfs.roots, alice, { note: (n) => notes.push(n) }),
    );
    expect(facts).toMatchObject({ detachedNetns: true, mtu: 65520, childPid: 200 });
    // Here $STATE_DIR/netns is a plain file, not a namespace: nsenter fails, so no counters.
    expect(facts).not.toHaveProperty("interfaces");
    expect(notes.join("\n")).toMatch(/detached network namespace's counters are unknown/);
  });

  it("network: without --detach-netns, the child's net/dev as before", async () => {
    procfs.add({ ...parent, argv: parent.argv.filter((a) => a !== "--detach-netns") });
    const facts = await networkCollector.collect(collectorContext(procfs.roots, alice));
    expect(facts.detachedNetns).toBeUndefined();
    expect(facts.interfaces?.[0]).toMatchObject({ device: "eth0", receiveBytes: 999999 });
  });
});

describe("dockerdBinary: the system dockerd's --version, for a dockerd that dies before its API", () => {
  let procfs: FakeProcfs;
  const write = (text: string, mode = 0o755) => {
    procfs.writeRoot("/usr/sbin/dockerd", `#!/bin/sh\necho '${text}'\n`);
    chmodSync(join(procfs.roots.rootfs, "usr/sbin/dockerd"), mode);
  };
  beforeEach(() => {
    procfs = new FakeProcfs();
    // Run as nobody when root: every directory on the way must be searchable by others.
    chmodSync(procfs.roots.rootfs, 0o755);
  });
  afterEach(() => procfs.cleanup());

  // The binary must be root's: as anyone else the fixture's file is the runner's own.
  const notRoot = process.getuid?.() !== 0;
  it.skipIf(notRoot)("as root: reads x.y.z, once per binary", async () => {
    write("Docker version 28.5.2+dfsg3, build 89c5e8f");
    chmodSync(join(procfs.roots.rootfs, "usr"), 0o755);
    chmodSync(join(procfs.roots.rootfs, "usr/sbin"), 0o755);
    const host = new HostState();
    const first = await dockerdBinary(host, procfs.roots, 5000);
    expect(first).toEqual({ path: "/usr/sbin/dockerd", version: "28.5.2" });
    // The same file (same inode, size and mtime): not run again.
    expect(await dockerdBinary(host, procfs.roots, 5000)).toBe(first);
    write("Docker version 29.5.0, build 0000000000");
    expect((await dockerdBinary(host, procfs.roots, 5000))?.version).toBe("29.5.0");
  });

  it("a dockerd that others may write is not run", async () => {
    write("Docker version 28.5.2", 0o777);
    expect(await findSystemProgram(procfs.roots, "dockerd")).toBeUndefined();
  });

  it("a symlink is not followed", async () => {
    write("Docker version 28.5.2");
    const path = join(procfs.roots.rootfs, "usr/sbin/dockerd");
    rmSync(path);
    symlinkSync("/bin/true", path);
    expect(await findSystemProgram(procfs.roots, "dockerd")).toBeUndefined();
  });

  it.skipIf(notRoot)(
    "as root: a --version that names no Docker version: unknown, said so",
    async () => {
      write("something else");
      chmodSync(join(procfs.roots.rootfs, "usr"), 0o755);
      chmodSync(join(procfs.roots.rootfs, "usr/sbin"), 0o755);
      const binary = await dockerdBinary(new HostState(), procfs.roots, 5000);
      expect(binary).toMatchObject({
        path: "/usr/sbin/dockerd",
        error: expect.stringMatching(/names no Docker version/),
      });
      expect(binary).not.toHaveProperty("version");
    },
  );
});

describe("readConfiguredNetwork: --detach-netns in DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS", () => {
  let dir = "";
  let roots: HostRoots;
  const uid = process.getuid?.() ?? 1000;
  const me = { ...alice, uid, gid: uid, groups: [uid] };
  const unit = "/home/alice/.config/systemd/user/docker.service";
  const write = (path: string, text: string) => {
    mkdirSync(join(roots.rootfs, path, ".."), { recursive: true });
    writeFileSync(join(roots.rootfs, path), text);
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "detach-config-"));
    roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: join(dir, "root") };
    mkdirSync(roots.rootfs);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ["the flag, in a drop-in", '"DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=--ipv6 --detach-netns"', true],
    ["=false", '"DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=--detach-netns=false"', false],
    ["another flag only", '"DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=--ipv6"', false],
    // Only Docker 29.5's script reads it, and that script's dockerd supports the mode.
    ["_DETACH_NETNS alone", '"DOCKERD_ROOTLESS_ROOTLESSKIT_DETACH_NETNS=true"', false],
  ])("%s", async (_name, assignment, expected) => {
    write(unit, "[Service]\nExecStart=/usr/bin/dockerd-rootless.sh\n");
    write(`${unit}.d/override.conf`, `[Service]\nEnvironment=${assignment}\n`);
    const configured = await readConfiguredNetwork(roots, new MountTable(), me);
    expect(configured?.detachNetns).toBe(expected ? `${unit}.d/override.conf` : undefined);
  });
});
