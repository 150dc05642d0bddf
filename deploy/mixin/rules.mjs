// Recording rules of the mixin, at two levels. Each site Prometheus records sums and counts by
// the site labels; a global Prometheus federates them and divides at the top (ratios of ratios
// are wrong once sites differ in size).
import { sel } from "./alerts.mjs";

export function prometheusRules(config) {
  const s = (name, extra) => sel(config, name, extra);
  const by = (...more) => `by (${[...config.siteLabels, ...more].join(", ")})`;
  const host = `min ${by("instance")} (${s("rootless_compliant")})`;
  return {
    groups: [
      {
        name: "rootless-exporter-fleet",
        rules: [
          {
            record: "rootless:users_compliant:sum",
            expr: `sum ${by()} (${s("rootless_compliant")})`,
          },
          {
            record: "rootless:users_compliant:count",
            expr: `count ${by()} (${s("rootless_compliant")})`,
          },
          { record: "rootless:hosts_compliant:sum", expr: `sum ${by()} (${host})` },
          { record: "rootless:hosts_compliant:count", expr: `count ${by()} (${host})` },
          { record: "rootless:exporters_up:sum", expr: `sum ${by()} (${s("up")})` },
          { record: "rootless:exporters_up:count", expr: `count ${by()} (${s("up")})` },
          {
            record: "rootless:checks_failed:count",
            expr: `count ${by("check", "severity")} (${s("rootless_check_ok")} == 0)`,
          },
          // The site's own ratios, from the two records above each; never re-aggregate these.
          {
            record: "rootless:users_compliant:ratio",
            expr: "rootless:users_compliant:sum / rootless:users_compliant:count",
          },
          {
            record: "rootless:hosts_compliant:ratio",
            expr: "rootless:hosts_compliant:sum / rootless:hosts_compliant:count",
          },
        ],
      },
    ],
  };
}

/** The global Prometheus's rules: over the federated site records, every site at once. */
export function globalRules() {
  const ratio = (what) => ({
    record: `rootless_global:${what}:ratio`,
    expr: `sum(rootless:${what}:sum) / sum(rootless:${what}:count)`,
  });
  return {
    groups: [
      {
        name: "rootless-exporter-global",
        rules: [
          ratio("users_compliant"),
          ratio("hosts_compliant"),
          ratio("exporters_up"),
          {
            record: "rootless_global:checks_failed:sum",
            expr: "sum by (check, severity) (rootless:checks_failed:count)",
          },
        ],
      },
    ],
  };
}

/** The global Prometheus's scrape job: federation of the site records, site labels kept. */
export function federationJob(config, targets) {
  return {
    job_name: "rootless-federate",
    honor_labels: true,
    // Federated samples carry timestamps, and series with timestamps get no staleness markers: a
    // site that goes away would linger in the global sums for 5 minutes. Scrape time instead.
    honor_timestamps: false,
    metrics_path: "/federate",
    params: { "match[]": [config.federationMatch] },
    static_configs: [{ targets }],
  };
}
