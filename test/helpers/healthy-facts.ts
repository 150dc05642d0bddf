import type { CheckInput } from "../../src/checks/finding.js";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import type { Target } from "../../src/host/target.js";

export const alice: Target = {
  name: "alice",
  uid: 1000,
  gid: 1000,
  home: "/home/alice",
  groups: [1000],
  runtimeDir: "/run/user/1000",
};

/** Facts of a host where rootless Docker is set up as the guide says, with pasta and linger. */
/** The probe is off by default, so healthy facts have none. */
export type DefaultFacts = Omit<FactsByCollector, "probe"> & { probe?: FactsByCollector["probe"] };

export function healthyFacts(): DefaultFacts {
  const summary = { size: 65536, ranges: 1, overlaps: 0 };
  return {
    cgroup: {
      version: 2,
      versionSource: "statfs",
      delegated: ["cpuset", "cpu", "io", "memory", "pids"],
      delegationPath:
        "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers",
      oomd: {
        active: false,
        memoryPressure: [
          { unit: "user@1000.service", value: "auto" },
          { unit: "user-1000.slice", value: "auto" },
          { unit: "user.slice", value: "auto" },
        ],
      },
    },
    client: {
      rootlessSocket: "/run/user/1000/docker.sock",
      rootfulDockerdPids: [],
      rootfulSocket: { path: "/run/docker.sock", state: "missing", writable: false },
      unitFile: "/home/alice/.config/systemd/user/docker.service",
      context: {
        state: "named",
        name: "rootless",
        host: "unix:///run/user/1000/docker.sock",
        file: "/home/alice/.docker/contexts/meta/12b961af5feb3e9d39f93b2cefb9a1a944f18d02cca0cac2f04f5a982240605f/meta.json",
      },
      endpoints: [
        {
          source: "context",
          host: "unix:///run/user/1000/docker.sock",
          kind: "unix_rootless",
          file: "/home/alice/.docker/contexts/meta/12b961af5feb3e9d39f93b2cefb9a1a944f18d02cca0cac2f04f5a982240605f/meta.json",
          context: "rootless",
        },
      ],
    },
    dbus: {
      address: "unix:path=/run/user/1000/bus",
      busUp: true,
      pingSeconds: 0.001,
      units: [
        { unit: "docker.service", activeState: "active", restarts: 0, fileState: "enabled" },
        { unit: "dbus.service", activeState: "active", restarts: 0, fileState: "static" },
        { unit: "dbus.socket", activeState: "active", fileState: "static" },
      ],
    },
    docker: {
      runtimeDir: { path: "/run/user/1000", exists: true, ownerUid: 1000, mode: 0o700 },
      dockerdUp: true,
      pidFile: "ok",
      dockerdPid: 4242,
      socket: "/run/user/1000/docker.sock",
      apiUp: true,
      info: {
        version: "27.3.1",
        storageDriver: "overlay2",
        cgroupDriver: "systemd",
        cgroupVersion: "2",
        rootless: true,
        containers: { running: 1, paused: 0, stopped: 0 },
        dockerRootDir: "/home/alice/.local/share/docker",
        warnings: { total: 0, byId: {} },
      },
      dataRoot: { path: "/home/alice/.local/share/docker", fsType: "ext4" },
      dataRootUsage: {
        path: "/home/alice/.local/share/docker",
        thresholds: { warningRatio: 0.1, criticalRatio: 0.05 },
        fsName: "extfs",
        sizeBytes: 100 * 2 ** 30,
        freeBytes: 60 * 2 ** 30,
        inodes: 6_553_600,
        freeInodes: 6_000_000,
        dtype: true,
      },
    },
    kernel: {
      release: "6.8.0-45-generic",
      sysctls: {
        "kernel.unprivileged_userns_clone": 1,
        "user.max_user_namespaces": 63704,
        "kernel.apparmor_restrict_unprivileged_userns": 0,
        "net.ipv4.ip_unprivileged_port_start": 1024,
        "fs.inotify.max_user_instances": 8192,
        "fs.inotify.max_user_watches": 524288,
      },
      pingGroupRange: { low: 0, high: 2147483647 },
      modules: {
        fuse: true,
        ip_tables: true,
        iptable_filter: true,
        iptable_mangle: true,
        iptable_nat: true,
        nf_tables: true,
        overlay: true,
      },
      moduleStates: {
        fuse: { state: "loaded", evidence: "/proc/modules" },
        ip_tables: { state: "loaded", evidence: "/proc/modules" },
        iptable_filter: { state: "loaded", evidence: "/proc/modules" },
        iptable_mangle: { state: "loaded", evidence: "/proc/modules" },
        iptable_nat: { state: "loaded", evidence: "/proc/modules" },
        nf_tables: { state: "loaded", evidence: "/proc/modules" },
        overlay: { state: "builtin", evidence: "/lib/modules/6.8.0-45-generic/modules.builtin" },
      },
      iptables: {
        path: "/usr/sbin/iptables",
        program: "/usr/sbin/xtables-nft-multi",
        variant: "nft",
      },
      storageDrivers: {
        vfs: { ok: true, reason: "" },
        overlay2: { ok: true, reason: "" },
        btrfs: { ok: true, reason: "" },
        "fuse-overlayfs": { ok: true, reason: "" },
      },
      idmapHelpers: {
        newuidmap: { ok: true, reason: "setuid root" },
        newgidmap: { ok: true, reason: "setuid root" },
      },
      rootlesskitBinary: { path: "/usr/bin/rootlesskit", netBindService: true },
      apparmor: { enabled: true, rootlesskitProfiles: [] },
      rootMount: { shared: true, optional: "shared:1", source: "/proc/1/mountinfo" },
      selinux: "disabled",
      inotify: {
        1000: { instances: 12, processes: 9, descriptors: 210, unreadable: 1, complete: true },
      },
    },
    linger: { enabled: true, source: "logind" },
    network: {
      driver: "pasta",
      driverUp: true,
      driverProcess: { pid: 4300, cpuSeconds: 1.5, rssBytes: 4_000_000 },
      mtu: 65520,
      childPid: 4250,
    },
    rootlesskit: {
      up: true,
      dockerPidFile: "ok",
      parentPid: 4200,
      childPid: 4250,
      detachNetns: false,
      netnsFile: false,
      stateDir: { path: "/run/user/1000/dockerd-rootless", source: "flag" },
      apiUp: true,
      info: { apiVersion: "1.1.1", version: "2.3.1", networkDriver: { driver: "pasta", dns: [] } },
      ports: [],
      stateDirStale: false,
    },
    subid: {
      uid: { path: "/etc/subuid", state: "ok", parseErrors: 0, firstParseErrors: [], summary },
      gid: { path: "/etc/subgid", state: "ok", parseErrors: 0, firstParseErrors: [], summary },
      answer: {
        uid: { source: "files", size: 65536, ranges: 1, outsideParent: 0 },
        gid: { source: "files", size: 65536, ranges: 1, outsideParent: 0 },
      },
    },
  };
}

export function input(facts: DefaultFacts): CheckInput {
  return { target: alice, facts };
}
