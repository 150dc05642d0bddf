import type { MetricDef } from "../collectors/module.js";
import { counter, gauge } from "../collectors/module.js";
import { modules } from "../collectors/registry.js";

export type { MetricDef } from "../collectors/module.js";

/*
 * Every metric the exporter can serve: the single source of truth for names, types, labels and
 * help texts (METRICS.md). The exporter's own series are here; each collector's come from its
 * module (collectors/<name>/module.ts) through the registry. Rules, dashboards and docs are
 * checked against this list.
 */

/** The exporter's own series: its build, its collectors' runs and the watched users. */
const exporterMetrics = {
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
} as const satisfies Record<string, MetricDef>;

/** The verdicts of the checks (checks/registry.ts), per user. */
const checkMetrics = {
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

type Modules = typeof modules;
type ModuleMetrics = {
  [K in keyof Modules]: Modules[K]["metrics"];
}[keyof Modules];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (
  u: infer I,
) => void
  ? I
  : never;

export type Catalogue = typeof exporterMetrics &
  UnionToIntersection<ModuleMetrics> &
  typeof checkMetrics;

export const metrics: Catalogue = Object.assign(
  {},
  exporterMetrics,
  ...Object.values(modules).map((module) => module.metrics),
  checkMetrics,
);

export type MetricKey = keyof Catalogue;
