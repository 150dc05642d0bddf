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
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof metrics;
