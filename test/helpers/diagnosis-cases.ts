import type { DefaultFacts } from "./healthy-facts.js";
import { scriptDefault } from "../../src/collectors/network/network-config.js";

export type Mutation = (facts: DefaultFacts) => void;

type Docker = DefaultFacts["docker"];
type Measured = Extract<NonNullable<Docker["dataRootUsage"]>, { fsName: string }>;

/** The healthy data root with some of its measures changed. */
function usage(f: DefaultFacts, change: Partial<Measured>): Measured {
  return { ...(f.docker.dataRootUsage as Measured), ...change };
}

/** The healthy daemon, its /info listing these warnings. */
function withWarnings(f: DefaultFacts, byId: Record<string, number>): Docker {
  const total = Object.values(byId).reduce((a, b) => a + b, 0);
  const info = f.docker.info ?? {
    rootless: true,
    containers: { running: 0, paused: 0, stopped: 0 },
  };
  return { ...f.docker, info: { ...info, warnings: { total, byId } } };
}

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
    "max_user_namespaces 512",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "user.max_user_namespaces": 512 },
      }),
    "max_user_namespaces_low",
  ],
  [
    "/ mounted private",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        rootMount: { shared: false, optional: "", source: "/proc/1/mountinfo" },
      }),
    "root_propagation",
  ],
  [
    "120 of 128 inotify instances",
    (f) =>
      void (f.kernel = {
        ...f.kernel,
        sysctls: { ...f.kernel.sysctls, "fs.inotify.max_user_instances": 128 },
        inotify: {
          1000: { instances: 120, processes: 40, descriptors: 900, unreadable: 0, complete: true },
        },
      }),
    "inotify_instances",
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
    // overlay2 cannot take its upper layer on NFS either.
    "data_root_nfs,data_root_overlay",
  ],
  [
    "data root 7% free",
    (f) => void (f.docker = { ...f.docker, dataRootUsage: usage(f, { freeBytes: 7 * 2 ** 30 }) }),
    "data_root_space",
  ],
  [
    "data root out of inodes",
    (f) => void (f.docker = { ...f.docker, dataRootUsage: usage(f, { freeInodes: 1200 }) }),
    "data_root_full,data_root_space",
  ],
  [
    "XFS data root made with ftype=0",
    (f) =>
      void (f.docker = {
        ...f.docker,
        dataRoot: { path: "/home/alice/.local/share/docker", fsType: "xfs" },
        dataRootUsage: usage(f, { fsName: "xfs", dtype: false }),
      }),
    "data_root_overlay",
  ],
  [
    "tmpfs data root on kernel 6.1",
    (f) => {
      f.docker = {
        ...f.docker,
        dataRoot: { path: "/home/alice/.local/share/docker", fsType: "tmpfs" },
      };
      f.kernel = { ...f.kernel, release: "6.1.0-18-amd64", version: { major: 6, minor: 1 } };
    },
    "data_root_overlay",
  ],
  [
    "dockerd warns it runs without cgroups",
    (f) => void (f.docker = withWarnings(f, { rootless_no_cgroups: 1 })),
    "docker_cgroups",
  ],
  [
    "dockerd warns of no memory and cpu limits",
    (f) => void (f.docker = withWarnings(f, { no_memory_limit: 1, no_cpu_cfs_quota: 1, other: 2 })),
    "docker_resource_limits",
  ],
  [
    "dockerd warns IPv4 forwarding is disabled",
    (f) => void (f.docker = withWarnings(f, { ipv4_forwarding_disabled: 1 })),
    "docker_ipv4_forwarding",
  ],
  [
    "dockerd's API on TCP without TLS",
    (f) => void (f.docker = withWarnings(f, { api_without_tls: 2 })),
    "docker_api_tls",
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
    "docker.service active but disabled",
    (f) =>
      void (f.dbus = {
        ...f.dbus,
        units: [{ unit: "docker.service", activeState: "active", fileState: "disabled" }],
      }),
    "docker_service_enabled",
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
    "data_root_nfs,data_root_overlay,dockerd_running,rootlesskit_running",
  ],
  [
    "rootlesskit down",
    (f) => void (f.rootlesskit = { ...f.rootlesskit, up: false }),
    "rootlesskit_running",
  ],
  [
    "the rootful socket writable through the docker group",
    (f) =>
      void (f.client = {
        ...f.client,
        rootfulSocket: {
          path: "/run/docker.sock",
          state: "socket",
          mode: 0o660,
          ownerUid: 0,
          groupGid: 998,
          access: "group",
          writable: true,
        },
      }),
    "rootful_socket_access",
  ],
  [
    "the current context on a tcp daemon",
    (f) =>
      void (f.client = {
        ...f.client,
        context: { state: "named", name: "remote", host: "tcp://10.0.0.5:2375", file: "/m" },
        endpoints: [
          {
            source: "context",
            host: "tcp://10.0.0.5:2375",
            kind: "tcp",
            file: "/m",
            context: "remote",
          },
        ],
      }),
    "client_endpoint",
  ],
  [
    "DOCKER_HOST in docker.service on root's runtime dir",
    (f) =>
      void (f.client = {
        ...f.client,
        endpoints: [
          ...f.client.endpoints,
          {
            source: "docker_host_unit",
            host: "unix:///run/user/0/docker.sock",
            kind: "unix_root_runtime",
            file: "/home/alice/.config/systemd/user/docker.service.d/env.conf",
          },
        ],
      }),
    "client_endpoint",
  ],
  [
    // Issue 21: Docker 28 under --detach-netns dies on iptables before its API answers.
    "--detach-netns with dockerd 28.5.2",
    (f) => {
      f.rootlesskit = { ...f.rootlesskit, detachNetns: true, netnsFile: true };
      f.docker = { ...f.docker, dockerdUp: false, apiUp: false, pidFile: "dead" };
      delete (f.docker as { info?: unknown }).info;
      f.network = { ...f.network, dockerdBinary: { path: "/usr/sbin/dockerd", version: "28.5.2" } };
    },
    "detach_netns_dockerd,dockerd_running",
  ],
  [
    "--detach-netns configured for dockerd 28.5.2, not running",
    (f) => {
      const unit = "/home/alice/.config/systemd/user/docker.service.d/override.conf";
      f.rootlesskit = { up: false, dockerPidFile: "missing", apiUp: false };
      f.docker = { ...f.docker, dockerdUp: false, apiUp: false, pidFile: "missing" };
      delete (f.docker as { info?: unknown }).info;
      f.network = {
        configured: {
          unitFile: "/home/alice/.config/systemd/user/docker.service",
          driver: "slirp4netns",
          mtu: 65520,
          portDriver: "builtin",
          detachNetns: unit,
          sources: { driver: scriptDefault, mtu: scriptDefault, portDriver: scriptDefault },
        },
        dockerdBinary: { path: "/usr/sbin/dockerd", version: "28.5.2" },
      };
    },
    "detach_netns_dockerd,dockerd_running,rootlesskit_running",
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
    "SELinux enforcing",
    (f) => void (f.kernel = { ...f.kernel, selinux: "enforcing" }),
    ["selinux"],
  ],
  [
    "systemd-oomd watching user@1000.service",
    (f) =>
      void (f.cgroup = {
        ...f.cgroup,
        oomd: {
          active: true,
          memoryPressure: [{ unit: "user@1000.service", value: "kill" }],
          watchedBy: "user@1000.service",
        },
      }),
    ["systemd_oomd"],
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
  [
    "a rootful dockerd beside the rootless one, its socket closed to the user",
    (f) => void (f.client = { ...f.client, rootfulDockerdPids: [812] }),
    ["rootful_dockerd"],
  ],
  [
    "--detach-netns with Docker 29.5.0",
    (f) => {
      f.rootlesskit = { ...f.rootlesskit, detachNetns: true, netnsFile: true };
      f.docker = {
        ...f.docker,
        info: {
          rootless: true,
          containers: { running: 0, paused: 0, stopped: 0 },
          ...f.docker.info,
          version: "29.5.0",
        },
      };
    },
    ["detach_netns"],
  ],
];
