// The mixin's one `_config`: change a selector or a threshold here, then `npm run mixin`.
export const _config = {
  // Selects the exporter's series on every Prometheus; the scrape job must carry it.
  selector: 'job="rootless-exporter"',
  // Labels naming a site or cluster: external_labels of each site Prometheus, or target labels.
  siteLabels: ["site"],
  // The global Prometheus's federation job pulls every series matching this.
  federationMatch: '{__name__=~"rootless:.+"}',
  thresholds: {
    subidMinimum: 65536,
    // Restarts of rootlesskit or dockerd in restartWindow that make a crash loop (issue 21).
    restarts: 3,
    restartWindow: "1h",
    networkDriverCpuCores: 0.9,
    // Free fraction of a data root's bytes or inodes under which it is nearly full (issue 17); the
    // exporter's own data_root_full check uses --check.data-root-free-critical-ratio (0.05 too).
    dataRootFreeRatio: 0.05,
    // Share of time all of user@UID.service's tasks stall on memory (PSI full) that pages: well
    // under systemd-oomd's default kill limit (60% for 30 s), sustained for `for.slow` (issue 17).
    userMemoryPressure: 0.1,
  },
  for: {
    down: "5m",
    slow: "15m",
    compliance: "30m",
  },
  runbookBase: "https://github.com/rootless-exporter/rootless-exporter/blob/main/docs/runbooks.md",
  grafana: {
    dashboardUid: "rootless-exporter",
    datasourceUid: "prometheus",
    folder: "Rootless Docker",
  },
};
