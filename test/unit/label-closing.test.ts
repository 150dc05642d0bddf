import { describe, expect, it } from "vitest";
import type { InterfaceCounters } from "../../src/host/proc-files.js";
import { addDocker } from "../../src/collectors/docker/module.js";
import { addNetwork } from "../../src/collectors/network/module.js";
import { addRootlesskit } from "../../src/collectors/rootlesskit/module.js";
import { SampleSet } from "../../src/exporter/render/sample-set.js";
import { healthyFacts } from "../helpers/healthy-facts.js";

// Issue 16, attack 5 and its kin: every label a user's answers fill is closed, plain or capped.
/** The series of one metric in a sample set, as label sets. */
const seriesOf = (out: SampleSet, metric: Parameters<SampleSet["add"]>[0]) =>
  out.series.get(metric) ?? [];

describe("series from a hostile user's answers", () => {
  it("9,500 distinct protos from /v1/ports: tcp, udp and other, summed", () => {
    const kit = healthyFacts().rootlesskit;
    const ports = Array.from({ length: 9500 }, (_, i) => ({
      id: i,
      proto: i < 10 ? "tcp6" : `proto-${i}`,
      parentPort: 1024 + i,
      childPort: 80,
    }));
    const out = new SampleSet();
    addRootlesskit(out, "alice", { ...kit, ports });
    const ports_ = seriesOf(out, "rootlesskitPorts");
    expect(ports_.map((s) => [s.labels["proto"], s.value])).toEqual([
      ["other", 9490],
      ["tcp", 10],
      ["udp", 0],
    ]);
  });

  it("rootlesskit_info and docker_info: forged values become other or invalid", () => {
    const facts = healthyFacts();
    const out = new SampleSet();
    const long = `/${"x".repeat(1 << 20)}`;
    addRootlesskit(out, "alice", {
      ...facts.rootlesskit,
      info: {
        version: "2.3.1\n# fake",
        apiVersion: "1.1.1",
        stateDir: long,
        networkDriver: { driver: "slirp4netns\u202e", dns: [] },
        portDriver: { driver: "builtin", protos: [] },
      },
    });
    addDocker(out, "alice", {
      ...facts.docker,
      info: {
        ...facts.docker.info!,
        version: "27.3.1",
        storageDriver: "overlay2\nPASS     storage_driver\u2028",
        cgroupDriver: "weird",
        cgroupVersion: "3",
      },
      dataRoot: { path: "/home/alice/\u202edocker", fsType: "fuse.x y" },
    });
    expect(seriesOf(out, "rootlesskitInfo")[0]?.labels).toEqual({
      user: "alice",
      version: "invalid",
      api_version: "1.1.1",
      network_driver: "other",
      port_driver: "builtin",
      state_dir: "invalid",
    });
    expect(seriesOf(out, "dockerInfo")[0]?.labels).toMatchObject({
      version: "27.3.1",
      storage_driver: "invalid",
      cgroup_driver: "other",
      cgroup_version: "other",
    });
    expect(seriesOf(out, "dockerDataRootFilesystem")[0]?.labels).toMatchObject({
      path: "invalid",
      fstype: "invalid",
    });
  });

  it("1,000 interfaces in the user's namespace: 32 series a metric, the rest summed", () => {
    const facts = healthyFacts();
    const counters = (device: string): InterfaceCounters => ({
      device,
      receiveBytes: 1,
      transmitBytes: 2,
      receivePackets: 3,
      transmitPackets: 4,
      receiveDrop: 0,
      transmitDrop: 0,
      receiveErrs: 0,
      transmitErrs: 0,
    });
    const interfaces = ["lo", "tap0", ...Array.from({ length: 998 }, (_, i) => `dummy${i}`)].map(
      counters,
    );
    const out = new SampleSet();
    addNetwork(out, "alice", { ...facts.network, driver: "made-up-driver", interfaces });
    const received = seriesOf(out, "networkReceiveBytes");
    expect(received).toHaveLength(32);
    expect(received.map((s) => s.labels["device"])).toEqual(
      expect.arrayContaining(["lo", "tap0", "(other)"]),
    );
    expect(received.reduce((sum, s) => sum + s.value, 0)).toBe(1000);
    expect(received.find((s) => s.labels["device"] === "(other)")?.value).toBe(1000 - (32 - 1));
    expect(seriesOf(out, "networkDriverCpu")[0]?.labels["driver"]).toBe("other");
  });
});
