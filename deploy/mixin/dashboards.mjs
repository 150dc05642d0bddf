// The Grafana dashboard of the mixin. The fleet row reads only the recording rules, dividing sums
// by counts, so it shows the same figures on a site Prometheus and on the global one.
import { sel } from "./alerts.mjs";

const datasource = { type: "prometheus", uid: "${datasource}" };

const variable = (name, query) => ({
  name,
  type: "query",
  datasource,
  query,
  refresh: 2,
  includeAll: true,
  multi: true,
  // "All" as .* also matches series without the label (a single Prometheus has no site label).
  allValue: ".*",
});

export function grafanaDashboards(config) {
  const siteMatch = config.siteLabels.map((l) => `${l}=~"$${l}"`).join(",");
  const hostMatch = 'instance=~"$instance",user=~"$user"';
  const s = (name, extra = hostMatch) => sel(config, name, extra);
  const rec = (name) => `${name}{${siteMatch}}`;
  const ratio = (what) =>
    `sum(${rec(`rootless:${what}:sum`)}) / sum(${rec(`rootless:${what}:count`)})`;
  let id = 0;
  const row = (title, y) => ({
    id: ++id,
    type: "row",
    title,
    collapsed: false,
    gridPos: { x: 0, y, w: 24, h: 1 },
    panels: [],
  });
  const panel = (type, title, gridPos, targets, extra = {}) => ({
    id: ++id,
    title,
    type,
    datasource,
    gridPos,
    targets: targets.map(([expr, legendFormat = "", table = false], i) => ({
      refId: String.fromCharCode(65 + i),
      expr,
      legendFormat,
      ...(table && { format: "table", instant: true }),
    })),
    ...extra,
  });
  const unit = (u) => ({ fieldConfig: { defaults: { unit: u }, overrides: [] } });
  const site = config.siteLabels.join(", ");
  const siteLegend = config.siteLabels.map((l) => `{{${l}}}`).join(" ");
  const panels = [
    row("Fleet", 0),
    panel("stat", "Compliant users", { x: 0, y: 1, w: 6, h: 4 }, [[ratio("users_compliant")]], {
      description:
        "Share of watched users failing no critical or warning check: the sites' sums over their counts.",
      ...unit("percentunit"),
    }),
    panel("stat", "Compliant hosts", { x: 6, y: 1, w: 6, h: 4 }, [[ratio("hosts_compliant")]], {
      description: "Share of hosts where every watched user is compliant.",
      ...unit("percentunit"),
    }),
    panel(
      "stat",
      "Exporters up",
      { x: 12, y: 1, w: 6, h: 4 },
      [[ratio("exporters_up")]],
      unit("percentunit"),
    ),
    panel(
      "bargauge",
      "Failing checks by id",
      { x: 18, y: 1, w: 6, h: 8 },
      [
        [
          `sum by (check, severity) (${rec("rootless:checks_failed:count")})`,
          "{{check}} ({{severity}})",
        ],
      ],
      { description: "Targets failing each check, across the selected sites." },
    ),
    panel(
      "table",
      "Compliance by site",
      { x: 0, y: 5, w: 18, h: 4 },
      [
        [
          `sum by (${site}) (${rec("rootless:users_compliant:sum")}) / sum by (${site}) (${rec("rootless:users_compliant:count")})`,
          `users ${siteLegend}`,
          true,
        ],
        [
          `sum by (${site}) (${rec("rootless:hosts_compliant:sum")}) / sum by (${site}) (${rec("rootless:hosts_compliant:count")})`,
          `hosts ${siteLegend}`,
          true,
        ],
      ],
      {
        description: "Per site; on a site Prometheus the site label is empty.",
        ...unit("percentunit"),
      },
    ),
    panel(
      "table",
      "Failing checks by host and user",
      { x: 0, y: 9, w: 18, h: 8 },
      [[`${s("rootless_check_ok", 'instance=~"$instance"')} == 0`, "", true]],
      {
        description:
          "Every failing check; host checks have no user. Raw series: a site Prometheus only.",
      },
    ),
    row("Host", 17),
    panel("stat", "Daemon up", { x: 0, y: 18, w: 12, h: 4 }, [
      [s("rootless_rootlesskit_up"), "rootlesskit {{user}}"],
      [s("rootless_dockerd_up"), "dockerd {{user}}"],
      [s("rootless_docker_api_up"), "docker API {{user}}"],
      [s("rootless_dbus_user_bus_up"), "user bus {{user}}"],
      [s("rootless_linger_enabled"), "linger {{user}}"],
    ]),
    panel("table", "User unit states", { x: 12, y: 18, w: 12, h: 4 }, [
      [`${s("rootless_systemd_user_unit_state")} == 1`, "", true],
    ]),
    panel(
      "timeseries",
      "Network driver CPU",
      { x: 0, y: 22, w: 12, h: 8 },
      [[`rate(${s("rootless_network_driver_cpu_seconds_total")}[5m])`, "{{driver}} {{user}}"]],
      unit("percentunit"),
    ),
    panel(
      "timeseries",
      "Network driver memory",
      { x: 12, y: 22, w: 12, h: 8 },
      [[s("rootless_network_driver_resident_memory_bytes"), "{{driver}} {{user}}"]],
      unit("bytes"),
    ),
    panel(
      "timeseries",
      "Traffic in the rootless namespace",
      { x: 0, y: 30, w: 12, h: 8 },
      [
        [`rate(${s("rootless_network_receive_bytes_total")}[5m])`, "rx {{device}} {{user}}"],
        [`-rate(${s("rootless_network_transmit_bytes_total")}[5m])`, "tx {{device}} {{user}}"],
      ],
      unit("Bps"),
    ),
    panel("timeseries", "Containers", { x: 12, y: 30, w: 12, h: 8 }, [
      [s("rootless_docker_containers"), "{{state}} {{user}}"],
    ]),
    panel(
      "timeseries",
      "Probe throughput",
      { x: 0, y: 38, w: 12, h: 8 },
      [
        [s("rootless_probe_throughput_bytes_per_second"), "{{path}} {{user}}"],
        [s("rootless_probe_source_ip_propagated"), "source IP propagated {{user}}"],
      ],
      {
        description:
          "Measured by the probe collector (off by default): port = through rootlesskit's port driver, network = through the network driver.",
        ...unit("Bps"),
      },
    ),
    panel("table", "Collectors", { x: 12, y: 38, w: 12, h: 8 }, [
      [s("rootless_collector_success", 'instance=~"$instance"'), "", true],
    ]),
  ];
  return {
    "dashboard.json": {
      title: "Rootless Docker",
      uid: config.grafana.dashboardUid,
      schemaVersion: 39,
      version: 1,
      tags: ["rootless", "docker"],
      time: { from: "now-6h", to: "now" },
      refresh: "1m",
      templating: {
        list: [
          { name: "datasource", type: "datasource", query: "prometheus", current: {} },
          ...config.siteLabels.map((l) =>
            variable(l, `label_values(rootless:users_compliant:count, ${l})`),
          ),
          variable("instance", `label_values(${sel(config, "rootless_target_info")}, instance)`),
          variable(
            "user",
            `label_values(${sel(config, "rootless_target_info", 'instance=~"$instance"')}, user)`,
          ),
        ],
      },
      panels,
    },
  };
}

/** Grafana-managed alert rules (file provisioning, Grafana 9.1+), for teams alerting in Grafana. */
export function grafanaAlerts(config) {
  const rule = (uid, title, runbook, expr, forDuration, summary) => ({
    uid,
    title,
    condition: "B",
    for: forDuration,
    noDataState: "OK",
    execErrState: "Error",
    labels: { severity: "warning" },
    annotations: { summary, runbook_url: `${config.runbookBase}#${runbook}` },
    data: [
      {
        refId: "A",
        relativeTimeRange: { from: 600, to: 0 },
        datasourceUid: config.grafana.datasourceUid,
        model: { refId: "A", instant: true, expr },
      },
      {
        refId: "B",
        datasourceUid: "__expr__",
        // `x == 0` returns the matching series with value 0: any series returned fires (> -1).
        model: {
          refId: "B",
          type: "threshold",
          expression: "A",
          conditions: [{ evaluator: { type: "gt", params: [-1] } }],
        },
      },
    ],
  });
  const s = (name, extra) => sel(config, name, extra);
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: "rootless-exporter",
        folder: config.grafana.folder,
        interval: "1m",
        rules: [
          rule(
            "rootless-linger-disabled",
            "RootlessLingerDisabled",
            "rootlesslingerdisabled",
            `${s("rootless_linger_enabled")} == 0`,
            config.for.slow,
            "Linger is off for {{ $labels.user }} on {{ $labels.instance }}; the daemon dies at logout.",
          ),
          rule(
            "rootless-user-bus-down",
            "RootlessUserBusDown",
            "rootlessuserbusdown",
            `${s("rootless_dbus_user_bus_up")} == 0`,
            config.for.down,
            "The D-Bus user bus of {{ $labels.user }} on {{ $labels.instance }} does not answer.",
          ),
          rule(
            "rootless-user-unit-inactive",
            "RootlessDockerServiceInactive",
            "rootlessuserunitfailed",
            `${s("rootless_systemd_user_unit_state", 'unit="docker.service",state="active"')} == 0`,
            config.for.down,
            "docker.service of {{ $labels.user }} on {{ $labels.instance }} is not active.",
          ),
        ],
      },
    ],
  };
}
