// The rootless-exporter mixin (monitoring-mixins layout): alerts, rules and dashboards from one
// `_config`. Rendered into deploy/prometheus/ and deploy/grafana/ by scripts/mixin.mjs.
import { prometheusAlerts } from "./alerts.mjs";
import { _config } from "./config.mjs";
import { grafanaAlerts, grafanaDashboards } from "./dashboards.mjs";
import { federationJob, globalRules, prometheusRules } from "./rules.mjs";

export function mixin(config = _config) {
  return {
    _config: config,
    prometheusAlerts: prometheusAlerts(config),
    prometheusRules: prometheusRules(config),
    globalRules: globalRules(config),
    federationJob: (targets) => federationJob(config, targets),
    grafanaDashboards: grafanaDashboards(config),
    grafanaAlerts: grafanaAlerts(config),
  };
}
