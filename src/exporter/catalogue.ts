/**
 * Every metric the exporter can serve: the single source of truth for names, types, labels and
 * help texts (METRICS.md). Rules, dashboards and docs are checked against this list.
 */
export interface MetricDef {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly labels: readonly string[];
  readonly help: string;
}

function gauge(name: string, labels: readonly string[], help: string): MetricDef {
  return { name, type: "gauge", labels, help };
}

function counter(name: string, labels: readonly string[], help: string): MetricDef {
  return { name, type: "counter", labels, help };
}

export const metrics = {
  buildInfo: gauge(
    "rootless_exporter_build_info",
    ["version", "nodejs_version"],
    "Build of the running exporter; value 1.",
  ),
  collectorSuccess: gauge(
    "rootless_collector_success",
    ["collector"],
    "Whether the collector's last run succeeded (1) or failed (0).",
  ),
  collectorDuration: gauge(
    "rootless_collector_duration_seconds",
    ["collector"],
    "Wall time of the collector's last run.",
  ),
  collectorLastSuccess: gauge(
    "rootless_collector_last_success_timestamp_seconds",
    ["collector"],
    "Unix time of the collector's last successful run.",
  ),
  collectorErrors: counter(
    "rootless_collector_errors_total",
    ["collector"],
    "Failed runs of the collector since the exporter started.",
  ),
  targetInfo: gauge(
    "rootless_target_info",
    ["user", "uid", "runtime_dir"],
    "A watched user; value 1.",
  ),
  targetsWatched: gauge(
    "rootless_targets_watched",
    ["mode"],
    "Users watched now; mode is self (the exporter's own user), listed (--target.user) or host (every candidate user, as root).",
  ),
  collectorUserSuccess: gauge(
    "rootless_collector_user_success",
    ["collector", "user"],
    "Whether a user collector's last run for this user succeeded (1) or failed (0).",
  ),

  subidRangeSize: gauge(
    "rootless_subid_range_size",
    ["user", "kind"],
    "Subordinate IDs allotted to the user in /etc/subuid (kind uid) or /etc/subgid (kind gid).",
  ),
  subidRanges: gauge(
    "rootless_subid_ranges",
    ["user", "kind"],
    "Number of subordinate ID ranges of the user.",
  ),
  subidOverlaps: gauge(
    "rootless_subid_overlaps",
    ["user", "kind"],
    "The user's ranges that overlap a range of another user.",
  ),
  subidParseErrors: gauge(
    "rootless_subid_parse_errors",
    ["file"],
    "Malformed lines in the subordinate ID file.",
  ),

  idmapHelperOk: gauge(
    "rootless_idmap_helper_ok",
    ["helper"],
    "newuidmap/newgidmap present and setuid root or carrying the needed file capability.",
  ),

  cgroupVersion: gauge(
    "rootless_cgroup_version",
    [],
    "2 on a pure cgroup v2 (unified) hierarchy, 1 on v1 or hybrid.",
  ),
  cgroupDelegated: gauge(
    "rootless_cgroup_controller_delegated",
    ["user", "controller"],
    "Whether the controller is listed in user@UID.service's cgroup.controllers.",
  ),

  sysctlValue: gauge(
    "rootless_sysctl_value",
    ["sysctl"],
    "Value of a sysctl that rootless Docker depends on (only those the kernel has).",
  ),
  pingAllowed: gauge(
    "rootless_ping_allowed",
    ["user"],
    "Whether one of the user's groups falls in net.ipv4.ping_group_range.",
  ),
  moduleLoaded: gauge(
    "rootless_kernel_module_loaded",
    ["module"],
    "Whether the kernel module is loaded or built in.",
  ),
  storageDriverSupported: gauge(
    "rootless_storage_driver_supported",
    ["driver"],
    "Whether this kernel and host can run the storage driver rootless.",
  ),

  lingerEnabled: gauge(
    "rootless_linger_enabled",
    ["user"],
    "Whether systemd-logind keeps the user's services running after logout.",
  ),

  rootlesskitUp: gauge(
    "rootless_rootlesskit_up",
    ["user"],
    "Whether the rootlesskit parent process of the user is alive.",
  ),
  rootlesskitApiUp: gauge(
    "rootless_rootlesskit_api_up",
    ["user"],
    "Whether GET /v1/info on rootlesskit's api.sock answered.",
  ),
  rootlesskitInfo: gauge(
    "rootless_rootlesskit_info",
    ["user", "version", "api_version", "network_driver", "port_driver", "state_dir"],
    "rootlesskit's version, API version, drivers and state dir; value 1.",
  ),
  rootlesskitStartTime: gauge(
    "rootless_rootlesskit_start_time_seconds",
    ["user"],
    "Start time of the rootlesskit parent process, Unix time.",
  ),
  rootlesskitStateDirStale: gauge(
    "rootless_rootlesskit_state_dir_stale",
    ["user"],
    "1 when the state dir's child_pid or lock points to a dead process.",
  ),
  rootlesskitPorts: gauge(
    "rootless_rootlesskit_ports",
    ["user", "proto"],
    "Ports forwarded by rootlesskit's port driver (GET /v1/ports); proto is tcp, udp, sctp or other.",
  ),
  dockerdUp: gauge(
    "rootless_dockerd_up",
    ["user"],
    "Whether docker.pid names a live dockerd of the user.",
  ),
  dockerApiUp: gauge(
    "rootless_docker_api_up",
    ["user"],
    "Whether the Engine API on docker.sock answered: GET /info with a valid body, else GET /_ping OK.",
  ),
  dockerInfo: gauge(
    "rootless_docker_info",
    ["user", "version", "storage_driver", "cgroup_driver", "cgroup_version", "rootless"],
    "dockerd's version, storage and cgroup drivers; value 1.",
  ),
  dockerContainers: gauge(
    "rootless_docker_containers",
    ["user", "state"],
    "Containers of the user's dockerd by state (running, paused, stopped).",
  ),
  dockerDataRootFilesystem: gauge(
    "rootless_docker_data_root_filesystem_info",
    ["user", "path", "fstype"],
    "Filesystem type under dockerd's data root, as in /proc/PID/mountinfo; value 1.",
  ),

  dbusUserBusUp: gauge(
    "rootless_dbus_user_bus_up",
    ["user"],
    "Whether the user's D-Bus session bus answered a Ping in time.",
  ),
  dbusUserBusPing: gauge(
    "rootless_dbus_user_bus_ping_seconds",
    ["user"],
    "Round trip of that Ping.",
  ),
  systemdUserUnitState: gauge(
    "rootless_systemd_user_unit_state",
    ["user", "unit", "state"],
    "1 for the user unit's ActiveState, 0 for the other states.",
  ),

  userNamespaceMappedIds: gauge(
    "rootless_userns_mapped_ids",
    ["user", "kind"],
    "IDs mapped in the running rootlesskit's uid_map (kind uid) or gid_map (kind gid).",
  ),

  networkDriverUp: gauge(
    "rootless_network_driver_up",
    ["user", "driver"],
    "Whether the network driver's process is alive.",
  ),
  networkDriverCpu: counter(
    "rootless_network_driver_cpu_seconds_total",
    ["user", "driver"],
    "User and system CPU time of the network driver process.",
  ),
  networkDriverRss: gauge(
    "rootless_network_driver_resident_memory_bytes",
    ["user", "driver"],
    "Resident memory of the network driver process.",
  ),
  networkMtu: gauge(
    "rootless_network_mtu",
    ["user"],
    "MTU of the rootless network (driver's or rootlesskit's --mtu).",
  ),
  networkReceiveBytes: counter(
    "rootless_network_receive_bytes_total",
    ["user", "device"],
    "Bytes received on the interface of rootlesskit's network namespace.",
  ),
  networkTransmitBytes: counter(
    "rootless_network_transmit_bytes_total",
    ["user", "device"],
    "Bytes sent on the interface of rootlesskit's network namespace.",
  ),
  networkReceivePackets: counter(
    "rootless_network_receive_packets_total",
    ["user", "device"],
    "Packets received on the interface of rootlesskit's network namespace.",
  ),
  networkTransmitPackets: counter(
    "rootless_network_transmit_packets_total",
    ["user", "device"],
    "Packets sent on the interface of rootlesskit's network namespace.",
  ),
  networkReceiveDrop: counter(
    "rootless_network_receive_drop_total",
    ["user", "device"],
    "Received packets dropped on the interface.",
  ),
  networkTransmitDrop: counter(
    "rootless_network_transmit_drop_total",
    ["user", "device"],
    "Sent packets dropped on the interface.",
  ),
  networkReceiveErrs: counter(
    "rootless_network_receive_errs_total",
    ["user", "device"],
    "Receive errors on the interface.",
  ),
  networkTransmitErrs: counter(
    "rootless_network_transmit_errs_total",
    ["user", "device"],
    "Transmit errors on the interface.",
  ),

  probeSuccess: gauge(
    "rootless_probe_success",
    ["user", "path"],
    "Whether the last throughput probe of the path (port, network) finished.",
  ),
  probeThroughput: gauge(
    "rootless_probe_throughput_bytes_per_second",
    ["user", "path"],
    "Throughput measured by the last probe of the path.",
  ),
  probeSourceIp: gauge(
    "rootless_probe_source_ip_propagated",
    ["user"],
    "Whether the port probe's sink saw the client's own address.",
  ),
  probeLastRun: gauge(
    "rootless_probe_last_run_timestamp_seconds",
    ["user", "path"],
    "When the path was last probed, Unix time.",
  ),

  checkOk: gauge(
    "rootless_check_ok",
    ["user", "check", "severity"],
    "1 when the compliance check passes, 0 when it fails; absent while unknown. Host checks carry no user label.",
  ),
  checksFailed: gauge(
    "rootless_checks_failed",
    ["user", "severity"],
    "Failing checks for the user, host checks included.",
  ),
  compliant: gauge(
    "rootless_compliant",
    ["user"],
    "1 when no critical or warning check fails for the user.",
  ),
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof metrics;
