/*
 * The `Warnings` of dockerd's `GET /info`, mapped to closed ids. The texts are moby's own
 * (daemon/info.go, daemon/info_unix.go, v20.10 to v29); what a user's daemon sends is only ever
 * matched against them, never kept, labelled or echoed.
 */

/** Each known warning, with the texts moby has emitted for it (anchored at the start). */
const known = {
  api_without_tls: /^(WARNING|\[DEPRECATION NOTICE\]): API is accessible on https?:\/\//,
  bridge_nf_call_ip6tables_disabled: /^WARNING: bridge-nf-call-ip6tables is disabled$/,
  bridge_nf_call_iptables_disabled: /^WARNING: bridge-nf-call-iptables is disabled$/,
  cgroup_v1_deprecated: /^WARNING: Support for cgroup v1 is deprecated/,
  embedded_containerd: /^WARNING: Running with experimental embedded-containerd mode/,
  ipv4_forwarding_disabled: /^WARNING: IPv4 forwarding is disabled$/,
  loopback_devices: /^WARNING: [\w-]+: usage of loopback devices is /,
  no_cpu_cfs_period: /^WARNING: No cpu cfs period support$/,
  no_cpu_cfs_quota: /^WARNING: No cpu cfs quota support$/,
  no_cpu_shares: /^WARNING: No cpu shares support$/,
  no_cpuset: /^WARNING: No cpuset support$/,
  no_dtype: /^WARNING: [\w-]+: the backing [\w.-]+ filesystem is formatted without d_type support/,
  no_io_throttle:
    /^WARNING: No (io\.max \((rbps|wbps|riops|wiops)\)|blkio throttle\.(read|write)_(bps|iops)_device) support$/,
  no_io_weight: /^WARNING: No (io\.weight( \(per device\))?|blkio weight(_device)?) support$/,
  no_iptables_raw: /^WARNING: DOCKER_INSECURE_NO_IPTABLES_RAW is set$/,
  no_kernel_memory_limit: /^WARNING: No kernel memory (TCP )?limit support$/,
  no_memory_limit: /^WARNING: No memory limit support$/,
  no_oom_kill_disable: /^WARNING: No oom kill disable support$/,
  no_swap_limit: /^WARNING: No swap limit support$/,
  rootless_no_cgroups: /^WARNING: Running in rootless-mode without cgroups\./,
  seccomp_not_default: /^WARNING: daemon is not using the default seccomp profile$/,
  storage_driver_deprecated: /^WARNING: [Tt]he [\w-]+ storage-driver is deprecated/,
  xattrs_best_effort:
    /^WARNING: [\w-]+: extended file attributes from container images will be silently discarded/,
} as const satisfies Record<string, RegExp>;

export type KnownWarning = keyof typeof known;
export type WarningId = KnownWarning | "other";

/** The closed label values of rootless_docker_warning, "other" last. */
export const warningIds: readonly WarningId[] = [
  ...(Object.keys(known) as KnownWarning[]),
  "other",
];

export interface DockerWarnings {
  /** How many warnings /info listed. */
  readonly total: number;
  /** How many of them are each known warning (only those present), the rest as "other". */
  readonly byId: Readonly<Partial<Record<WarningId, number>>>;
}

/** Warnings matched one by one; past these (a real daemon sends a handful) all count as other. */
const maxMatched = 256;
/** moby's longest warning (xattrs_best_effort) is under 400 characters. */
const maxLength = 1024;

/** One warning's id; anything not a string of moby's known texts is "other". */
export function warningId(value: unknown): WarningId {
  if (typeof value !== "string" || value.length > maxLength) return "other";
  const text = value.trimStart();
  for (const [id, pattern] of Object.entries(known))
    if (pattern.test(text)) return id as KnownWarning;
  return "other";
}

/**
 * `Warnings` of /info: an array of strings, or null when there are none (Go's nil slice).
 * Undefined when the field is absent (before API 1.36) or of another type: unknown, not none.
 */
export function parseWarnings(value: unknown): DockerWarnings | undefined {
  if (value === null) return { total: 0, byId: {} };
  if (!Array.isArray(value)) return undefined;
  const byId: Partial<Record<WarningId, number>> = {};
  value.forEach((warning: unknown, i) => {
    const id = i < maxMatched ? warningId(warning) : "other";
    byId[id] = (byId[id] ?? 0) + 1;
  });
  return { total: value.length, byId };
}
