// Prometheus alerts of the mixin; every expression carries the config's selector.

/** `name{selector,extra}`: a metric restricted to the exporter's job. */
export const sel = (config, name, extra = "") =>
  `${name}{${[config.selector, extra].filter(Boolean).join(",")}}`;

const alert = (config, name, expr, forDuration, severity, summary, description) => ({
  alert: name,
  expr,
  for: forDuration,
  labels: { severity },
  annotations: {
    summary,
    description,
    runbook_url: `${config.runbookBase}#${name.toLowerCase()}`,
  },
});

/** UnitFileState values of a unit that does not start at boot by itself (systemctl(1)). */
const notEnabled = [
  "disabled",
  "enabled-runtime",
  "linked",
  "linked-runtime",
  "masked",
  "masked-runtime",
  "transient",
  "bad",
  "other",
];

export function prometheusAlerts(config) {
  const s = (name, extra) => sel(config, name, extra);
  const t = config.thresholds;
  const f = config.for;
  return {
    groups: [
      {
        name: "rootless-exporter",
        rules: [
          alert(
            config,
            "RootlessExporterDown",
            `${s("up")} == 0`,
            f.down,
            "warning",
            "rootless-exporter is down.",
            "Prometheus cannot scrape rootless-exporter on {{ $labels.instance }}: rootless Docker on that host is unwatched.",
          ),
          alert(
            config,
            "RootlessCollectorFailing",
            `${s("rootless_collector_success")} == 0`,
            f.slow,
            "warning",
            "A rootless-exporter collector keeps failing.",
            "The {{ $labels.collector }} collector on {{ $labels.instance }} has failed for 15 minutes; its metrics are missing.",
          ),
          alert(
            config,
            "RootlessRootlesskitDown",
            `${s("rootless_rootlesskit_up")} == 0`,
            f.down,
            "critical",
            "rootlesskit is not running.",
            "rootlesskit of {{ $labels.user }} on {{ $labels.instance }} is down: that user has no rootless Docker.",
          ),
          alert(
            config,
            "RootlessDaemonRestarting",
            // The exporter's counts see a new process per cycle at most; systemd's NRestarts
            // (summed over `unit` to share the others' labels) counts every restart it made.
            `increase(${s("rootless_dockerd_restarts_total")}[${t.restartWindow}]) > ${t.restarts} or increase(${s("rootless_rootlesskit_restarts_total")}[${t.restartWindow}]) > ${t.restarts} or sum without (unit) (increase(${s("rootless_systemd_user_unit_restarts_total", 'unit="docker.service"')}[${t.restartWindow}])) > ${t.restarts}`,
            "0m",
            "warning",
            "rootless Docker keeps restarting.",
            `dockerd or rootlesskit of {{ $labels.user }} on {{ $labels.instance }} restarted more than ${t.restarts} times in ${t.restartWindow} (new processes seen by the exporter, or systemd's restarts of docker.service): a crash loop that systemd hides between scrapes. See \`journalctl --user -u docker\` as that user.`,
          ),
          alert(
            config,
            "RootlessDockerdDown",
            `${s("rootless_dockerd_up")} == 0 or ${s("rootless_docker_api_up")} == 0`,
            f.down,
            "critical",
            "The rootless dockerd is down or does not answer.",
            "dockerd of {{ $labels.user }} on {{ $labels.instance }} is not running, or its API on docker.sock does not answer.",
          ),
          alert(
            config,
            "RootlessDataRootNearlyFull",
            `${s("rootless_docker_data_root_free_bytes")} / ${s("rootless_docker_data_root_size_bytes")} < ${t.dataRootFreeRatio} or ${s("rootless_docker_data_root_free_inodes")} / ${s("rootless_docker_data_root_inodes")} < ${t.dataRootFreeRatio}`,
            f.down,
            "critical",
            "A rootless Docker data root is nearly full.",
            "The data root of {{ $labels.user }} on {{ $labels.instance }} has {{ $value | humanizePercentage }} of its space or inodes free: pulls, builds and container writes fail with 'no space left on device'.",
          ),
          alert(
            config,
            "RootlessLingerDisabled",
            `${s("rootless_linger_enabled")} == 0`,
            f.slow,
            "warning",
            "Linger is off for a rootless Docker user.",
            "Linger is off for {{ $labels.user }} on {{ $labels.instance }}: the daemon stops at logout and does not start at boot.",
          ),
          alert(
            config,
            "RootlessUserBusDown",
            `${s("rootless_dbus_user_bus_up")} == 0`,
            f.down,
            "warning",
            "The user's D-Bus session bus does not answer.",
            "The user bus of {{ $labels.user }} on {{ $labels.instance }} is down: on cgroup v2, docker run fails with 'connection reset by peer'.",
          ),
          alert(
            config,
            "RootlessUserUnitFailed",
            `${s("rootless_systemd_user_unit_state", 'state="failed"')} == 1`,
            f.down,
            "warning",
            "A systemd user unit of a rootless Docker user failed.",
            "{{ $labels.unit }} of {{ $labels.user }} on {{ $labels.instance }} is in the failed state.",
          ),
          alert(
            config,
            "RootlessUserUnitNotEnabled",
            // The unit file states in which a running unit does not come back after a reboot
            // (the docker_service_enabled check's fail states; static, indirect, generated and
            // alias depend on other units).
            `${s("rootless_systemd_user_unit_file_state", `state=~"${notEnabled.join("|")}"`)} == 1 and ignoring (state) ${s("rootless_systemd_user_unit_state", 'state="active"')} == 1`,
            f.slow,
            "warning",
            "A running systemd user unit of a rootless Docker user is not enabled.",
            "{{ $labels.unit }} of {{ $labels.user }} on {{ $labels.instance }} is active but its unit file is {{ $labels.state }}: it will not come back after a reboot. Run `systemctl --user enable` on it as that user.",
          ),
          alert(
            config,
            "RootlessSubidRangeTooSmall",
            `${s("rootless_subid_range_size")} < ${t.subidMinimum}`,
            f.slow,
            "critical",
            `A user has fewer than ${t.subidMinimum.toLocaleString("en-US")} subordinate IDs.`,
            "{{ $labels.user }} on {{ $labels.instance }} has {{ $value }} subordinate {{ $labels.kind }}s: image pulls fail with 'lchown: invalid argument'.",
          ),
          alert(
            config,
            "RootlessCgroupDelegationMissing",
            `${s("rootless_cgroup_controller_delegated", 'controller=~"cpu|io|memory|pids"')} == 0`,
            f.slow,
            "warning",
            "A cgroup controller is not delegated to the user.",
            "{{ $labels.controller }} is not delegated to {{ $labels.user }}'s user@.service on {{ $labels.instance }}: limits on it are ignored.",
          ),
          alert(
            config,
            "RootlessUserMemoryPressure",
            `rate(${s("rootless_user_pressure_seconds_total", 'resource="memory",kind="full"')}[5m]) > ${t.userMemoryPressure}`,
            f.slow,
            "warning",
            "A user's rootless Docker is stalled on memory.",
            "All tasks of {{ $labels.user }}'s user@.service on {{ $labels.instance }} have been stalled on memory {{ $value | humanizePercentage }} of the time for 15 minutes: containers crawl, and systemd-oomd, where it watches the user, kills them.",
          ),
          alert(
            config,
            "RootlessStateDirStale",
            `${s("rootless_rootlesskit_state_dir_stale")} == 1`,
            f.slow,
            "warning",
            "rootlesskit left a stale state dir.",
            "The rootlesskit state dir of {{ $labels.user }} on {{ $labels.instance }} points to a dead process.",
          ),
          alert(
            config,
            "RootlessRootfulSocketWritable",
            `${s("rootless_client_rootful_socket_writable")} == 1`,
            f.slow,
            "warning",
            "A rootless Docker user can write the rootful Docker socket.",
            "{{ $labels.user }} on {{ $labels.instance }} can connect to /var/run/docker.sock: root on that host for that user, and a client at the default context talks to the rootful daemon, not the rootless one.",
          ),
          alert(
            config,
            "RootlessNetworkDriverSaturated",
            `rate(${s("rootless_network_driver_cpu_seconds_total")}[5m]) > ${t.networkDriverCpuCores}`,
            f.slow,
            "warning",
            "The rootless network driver uses nearly a whole core.",
            "{{ $labels.driver }} of {{ $labels.user }} on {{ $labels.instance }} has used {{ $value | humanizePercentage }} of a core for 15 minutes: container networking is CPU-bound.",
          ),
          alert(
            config,
            "RootlessHostNotCompliant",
            `${s("rootless_compliant")} == 0`,
            f.compliance,
            "warning",
            "A rootless Docker user fails critical or warning checks.",
            "{{ $labels.user }} on {{ $labels.instance }} fails checks; run `rootless-exporter check` there, or see /checks.",
          ),
        ],
      },
    ],
  };
}
