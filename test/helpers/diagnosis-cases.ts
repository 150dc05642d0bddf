import type { DefaultFacts } from "./healthy-facts.js";

export type Mutation = (facts: DefaultFacts) => void;

// "Diagnosis must be right": each single misconfiguration of the guide fails exactly the check
// meant for it and no other warning or critical check.
export const cases: [string, Mutation, string][] = [
  ["no linger", (f) => void (f.linger = { enabled: false, source: "logind" }), "linger"],
  [
    "no subgid entry",
    (f) =>
      void (f.subid = {
        ...f.subid,
        gid: { ...f.subid.gid, summary: { size: 0, ranges: 0, overlaps: 0 } },
        answer: {
          ...f.subid.answer,
          gid: { source: "files", size: 0, ranges: 0, outsideParent: 0 },
        },
      }),
    "subgid_range",
  ],
  [
    "a 1,000-ID subuid range",
    (f) =>
      void (f.subid = {
        ...f.subid,
        uid: { ...f.subid.uid, summary: { size: 1000, ranges: 1, overlaps: 0 } },
        answer: {
          ...f.subid.answer,
          uid: { source: "files", size: 1000, ranges: 1, outsideParent: 0 },
        },
      }),
    "subuid_range",
  ],
  [
    "a libsubid module that lists no subuid range",
    (f) =>
      void (f.subid = {
        ...f.subid,
        answer: { ...f.subid.answer, uid: { source: "sss", size: 0, ranges: 0, outsideParent: 0 } },
      }),
    "subuid_range",
  ],
  [
    "a libsubid module that cannot be loaded, over an empty /etc/subgid",
    (f) =>
      void (f.subid = {
        ...f.subid,
        gid: { ...f.subid.gid, summary: { size: 0, ranges: 0, overlaps: 0 } },
        answer: {
          ...f.subid.answer,
          gid: { source: "files", fallbackFrom: "sss", size: 0, ranges: 0, outsideParent: 0 },
        },
      }),
    "subgid_range",
  ],
  [
    "subordinate uids outside the exporter's user namespace (a nested container)",
    (f) =>
      void (f.subid = {
        ...f.subid,
        answer: {
          ...f.subid.answer,
          uid: {
            source: "files",
            size: 65536,
            ranges: 1,
            outsideParent: 65536,
            parentMap: "0-65535",
          },
        },
      }),
    "subid_parent_map",
  ],
  [
    "overlapping ranges",
    (f) =>
      void (f.subid = {
        ...f.subid,
        uid: { ...f.subid.uid, summary: { size: 65536, ranges: 1, overlaps: 1 } },
      }),
    "subid_overlap",
  ],
  [
    "max_user_namespaces 0",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "user.max_user_namespaces": 0 },
      }),
    "max_user_namespaces",
  ],
  [
    "unprivileged_userns_clone 0",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "kernel.unprivileged_userns_clone": 0 },
      }),
    "userns_clone",
  ],
  [
    "cgroup v1",
    (f) =>
      void (f.cgroup = {
        delegationPath: f.cgroup.delegationPath,
        version: 1,
        versionSource: "statfs",
      }),
    "cgroup_v2",
  ],
  [
    "memory+pids-only delegation",
    (f) => void (f.cgroup = { ...f.cgroup, delegated: ["memory", "pids"] }),
    "cgroup_delegation",
  ],
  [
    "NFS data root",
    (f) =>
      void (f.docker = {
        ...f.docker,
        dataRoot: { path: "/home/alice/.local/share/docker", fsType: "nfs4" },
      }),
    "data_root_nfs",
  ],
  [
    "user bus down",
    (f) => void (f.dbus = { address: f.dbus.address, busUp: false, error: "ENOENT" }),
    "dbus_user_bus",
  ],
  [
    "docker.service failed",
    (f) =>
      void (f.dbus = { ...f.dbus, units: [{ unit: "docker.service", activeState: "failed" }] }),
    "docker_service",
  ],
  [
    "stale state dir",
    (f) =>
      void (f.rootlesskit = {
        ...f.rootlesskit,
        stateDirStale: true,
        staleReason: "child_pid: no live process 77",
      }),
    "state_dir_stale",
  ],
  [
    "AppArmor restriction without profile",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "kernel.apparmor_restrict_unprivileged_userns": 1 },
      }),
    "apparmor_userns",
  ],
  [
    "newgidmap without setuid",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        idmapHelpers: { ...f.kernel.idmapHelpers, newgidmap: { ok: false, reason: "not setuid" } },
      }),
    "idmap_helpers",
  ],
  [
    "runtime dir mode 0755",
    (f) => void (f.docker = { ...f.docker, runtimeDir: { ...f.docker.runtimeDir, mode: 0o755 } }),
    "xdg_runtime_dir",
  ],
  [
    "overlay2 on kernel 5.4",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        storageDrivers: {
          ...f.kernel.storageDrivers,
          overlay2: { ok: false, reason: "kernel 5.4 < 5.11" },
        },
      }),
    "storage_driver",
  ],
  [
    "nf_tables absent, ip_tables a module not loaded (openSUSE)",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        moduleStates: {
          ...f.kernel.moduleStates,
          nf_tables: {
            state: "absent",
            evidence: "/boot/config-5.14: CONFIG_NF_TABLES is not set",
          },
          ip_tables: { state: "loadable", evidence: "/lib/modules/5.14/modules.dep" },
        },
      }),
    "iptables_modules",
  ],
  [
    "iptables-legacy with the ip_tables set loadable only, nf_tables built in",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        iptables: {
          path: "/usr/sbin/iptables",
          program: "/usr/sbin/xtables-legacy-multi",
          variant: "legacy",
        },
        moduleStates: {
          ...f.kernel.moduleStates,
          nf_tables: { state: "builtin", evidence: "/proc/config.gz: CONFIG_NF_TABLES=y" },
          iptable_nat: { state: "loadable", evidence: "/proc/config.gz: CONFIG_IP_NF_NAT=m" },
        },
      }),
    "iptables_modules",
  ],
  [
    "no iptables binary (RHEL) while dockerd is down",
    (f) => {
      f.kernel = { ...f.kernel, iptables: {} };
      f.docker = { ...f.docker, dockerdUp: false, apiUp: false, pidFile: "dead" };
    },
    "dockerd_running,iptables_binary",
  ],
  [
    "dockerd down",
    (f) => void (f.docker = { ...f.docker, dockerdUp: false, apiUp: false, pidFile: "dead" }),
    "dockerd_running",
  ],
  [
    "dockerd stopped, its configured data root on NFS",
    (f) => {
      f.docker = {
        runtimeDir: f.docker.runtimeDir,
        socket: f.docker.socket,
        dockerdUp: false,
        apiUp: false,
        pidFile: "missing",
        configured: {
          configFile: "/home/alice/.config/docker/daemon.json",
          configState: "missing",
          dataRoot: "/home/alice/.local/share/docker",
          dataRootSource: "default",
          dataRootFs: "nfs",
          storageDriver: "overlay2",
          storageDriverSource: "data root",
        },
      };
      f.rootlesskit = { up: false, dockerPidFile: "missing", apiUp: false };
      f.network = {};
    },
    "data_root_nfs,dockerd_running,rootlesskit_running",
  ],
  [
    "rootlesskit down",
    (f) => void (f.rootlesskit = { ...f.rootlesskit, up: false }),
    "rootlesskit_running",
  ],
];

// Faults the guide calls limitations, not errors: they fail info checks only.
export const infoCases: [string, Mutation, string[]][] = [
  [
    "MTU 1500 with slirp4netns",
    (f) => void (f.network = { ...f.network, driver: "slirp4netns", mtu: 1500 }),
    ["network_driver", "network_mtu"],
  ],
  [
    "the builtin port driver",
    (f) =>
      void (f.rootlesskit = {
        ...f.rootlesskit,
        info: {
          ...f.rootlesskit.info,
          networkDriver: { driver: "slirp4netns", dns: [] },
          portDriver: { driver: "builtin", protos: ["tcp"] },
        },
      }),
    ["source_ip_propagation"],
  ],
  [
    "ping_group_range 1 0",
    (f) => void (f.kernel = { ...f.kernel, pingGroupRange: { low: 1, high: 0 } }),
    ["ping_group_range"],
  ],
  [
    "ports below 1024 without the capability",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        rootlesskitBinary: { path: "/usr/bin/rootlesskit", netBindService: false },
      }),
    ["privileged_ports"],
  ],
];
