import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { networkCollector } from "../../src/collectors/network/network.js";
import { forwardsImplicitly } from "../../src/collectors/probe/probe-implicit.js";
import type { RootlesskitInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { parseInfo } from "../../src/collectors/rootlesskit/rootlesskit-api.js";
import { parseTcpListeners } from "../../src/host/tcp-listeners.js";
import { collectorContext } from "../helpers/context.js";
import { alice } from "../helpers/healthy-facts.js";
import type { FakeProcess } from "../helpers/procfs.js";
import { FakeProcfs } from "../helpers/procfs.js";

// What rootlesskit 2.0.2 with pasta looks like on Debian 13 (seen in test/e2e/pasta.test.ts):
// /v1/info without portDriver, pasta run in the foreground as rootlesskit's child, named
// pasta.avx2 on an AVX2 CPU with argv[0] "pasta", the child's pid as its last argument.
const info202 = {
  apiVersion: "1.1.1",
  version: "2.0.2",
  stateDir: "/run/user/1000/dockerd-rootless",
  childPID: 200,
  networkDriver: { driver: "pasta", dns: ["10.0.2.3"], childIP: "10.0.2.100" },
};
const pastaArgs = [
  "--foreground",
  "--stderr",
  "--ns-ifname=tap0",
  "--mtu=1500",
  "--address=10.0.2.100",
  "--gateway=10.0.2.2",
  "--no-map-gw",
  "--tcp-ports=auto",
  "--udp-ports=auto",
  "200",
];
const parentArgv = [
  "rootlesskit",
  "--state-dir=/run/user/1000/dockerd-rootless",
  "--net=pasta",
  "--mtu=1500",
  "--disable-host-loopback",
  "--port-driver=implicit",
];

describe("pasta on rootlesskit 2: the driver process", () => {
  let procfs: FakeProcfs;
  const parent: FakeProcess = {
    pid: 100,
    ppid: 1,
    comm: "rootlesskit",
    uid: 1000,
    exe: "/usr/bin/rootlesskit",
    argv: parentArgv,
    startTicks: 5000,
  };
  // rootlesskit's child re-executes /proc/self/exe: comm "exe", exe still rootlesskit.
  const child: FakeProcess = { ...parent, pid: 200, ppid: 100, comm: "exe", startTicks: 5001 };
  const dockerd: FakeProcess = {
    pid: 300,
    ppid: 200,
    comm: "dockerd",
    uid: 1000,
    exe: "/usr/bin/dockerd",
    argv: ["dockerd"],
    startTicks: 5002,
  };
  beforeEach(() => {
    procfs = new FakeProcfs();
    procfs.add({ ...child, children: [300] });
    procfs.add(dockerd);
    procfs.writeRoot("/run/user/1000/docker.pid", "300\n");
  });
  afterEach(() => procfs.cleanup());

  const shapes: [string, Partial<FakeProcess>, boolean][] = [
    // name, the pasta process, whether it is rootlesskit's child (rootlesskit 2 runs it --foreground)
    [
      "pasta.avx2 in the foreground, argv[0] pasta",
      { comm: "pasta.avx2", exe: "/usr/bin/pasta.avx2", argv: ["pasta", ...pastaArgs] },
      true,
    ],
    [
      "pasta.avx2 run by its path",
      {
        comm: "pasta.avx2",
        exe: "/usr/bin/pasta.avx2",
        argv: ["/usr/bin/pasta.avx2", ...pastaArgs],
      },
      true,
    ],
    [
      "passt.avx2 (the hard link's other name)",
      { comm: "passt.avx2", exe: "/usr/bin/passt.avx2", argv: ["passt.avx2", ...pastaArgs] },
      true,
    ],
  ];
  it.each(shapes)("%s: found, up, MTU from its --mtu=", async (_name, shape, isChild) => {
    const pasta: FakeProcess = {
      ...parent,
      pid: 150,
      ppid: isChild ? 100 : 1,
      startTicks: 5003,
      ...shape,
    };
    procfs.add(pasta);
    procfs.add({ ...parent, children: isChild ? [200, 150] : [200] });
    procfs.writeRoot("/run/user/1000/dockerd-rootless/child_pid", "200");
    const facts = await networkCollector.collect(collectorContext(procfs.roots, alice));
    expect(facts).toMatchObject({ driverUp: true, mtu: 1500, driverProcess: { pid: 150 } });
  });

  it("a process merely named like pasta.avx2 that serves another namespace is not the driver", async () => {
    procfs.add({
      ...parent,
      pid: 150,
      ppid: 1,
      comm: "pasta.avx2",
      exe: "/usr/bin/pasta.avx2",
      argv: ["pasta", "--mtu=1500", "999"],
    });
    procfs.add({ ...parent, children: [200] });
    const facts = await networkCollector.collect(collectorContext(procfs.roots, alice));
    expect(facts).toMatchObject({ driver: "pasta", driverUp: false });
  });
});

describe("forwardsImplicitly", () => {
  const info = parseInfo(info202) as RootlesskitInfo;
  const withPorts = parseInfo({ ...info202, portDriver: { driver: "builtin", protos: ["tcp"] } });
  const slirp = parseInfo({ ...info202, networkDriver: { driver: "slirp4netns" } });
  const cases: [string, readonly string[], RootlesskitInfo | undefined, boolean][] = [
    ["pasta, --port-driver=implicit, no portDriver", parentArgv, info, true],
    ["pasta without --port-driver (none: nothing forwarded)", parentArgv.slice(0, 5), info, false],
    ["a port driver with an API", parentArgv, withPorts, false],
    ["slirp4netns", parentArgv, slirp, false],
  ];
  it("rootlesskit 2.0.2's /v1/info for pasta has no port driver", () => {
    expect(info).not.toHaveProperty("portDriver");
  });
  it.each(cases)("%s", (_name, argv, answer, expected) => {
    expect(forwardsImplicitly(argv, answer ?? {})).toBe(expected);
  });
});

describe("parseTcpListeners", () => {
  const header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
  const cases: [string, string, { port: number; uid: number }[]][] = [
    [
      "a listener of uid 1000 on 0.0.0.0:23456",
      "   0: 00000000:5BA0 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1",
      [{ port: 23456, uid: 1000 }],
    ],
    [
      "an established socket is not listening",
      "   1: 0100007F:5BA0 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 12346 1",
      [],
    ],
    [
      "tcp6",
      "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
      [{ port: 8080, uid: 0 }],
    ],
    ["garbage", "   0: nonsense 0A x y z w -1", []],
  ];
  it.each(cases)("%s", (_name, line, expected) => {
    expect(parseTcpListeners(`${header}\n${line}\n`)).toEqual(expected);
  });
});
