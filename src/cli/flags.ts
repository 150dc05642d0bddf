import type { Collector, CollectorOption } from "../collectors/collector.js";
import { logLevels } from "../config.js";

/** One flag: its name, its help line and how it takes a value. */
export interface FlagSpec {
  readonly name: string;
  readonly help: string;
  /** Boolean flags take no value: --x, --x=false, --no-x. */
  readonly boolean: boolean;
  /** May be given several times; its environment variable takes a comma-separated list. */
  readonly repeatable?: boolean;
  readonly placeholder?: string;
  readonly defaultText?: string;
}

export const intervalHelp = "a duration that divides a minute, an hour or a day, e.g. 15s, 1m, 1h";

/** The flag of a collector-declared option: its own name, or collector.<collector>.<option>. */
export function optionFlag(collector: string, option: CollectorOption): string {
  return option.flag ?? `collector.${collector}.${option.name}`;
}

/** Flags of `rootless-exporter check` only. */
export const checkSpecs: readonly FlagSpec[] = [
  {
    name: "json",
    help: "check only: print the findings as JSON, as /checks serves them",
    boolean: true,
  },
  {
    name: "lang",
    help: "check only: language of summaries and fixes, en or zh-CN",
    boolean: false,
    placeholder: "LANG",
    defaultText: "en",
  },
];

/** Every flag of the exporter, its collectors' own included, in the order --help lists them. */
export function flagSpecs(collectors: readonly Collector<unknown>[]): FlagSpec[] {
  const specs: FlagSpec[] = [
    {
      name: "web.listen-address",
      help: "address to listen on",
      boolean: false,
      placeholder: "ADDR",
      defaultText: ":10049",
    },
    {
      name: "web.telemetry-path",
      help: "path under which to expose metrics",
      boolean: false,
      placeholder: "PATH",
      defaultText: "/metrics",
    },
    {
      name: "web.config.file",
      help: "exporter-toolkit web configuration (TLS, basic auth, headers, rate limit), YAML",
      boolean: false,
      placeholder: "FILE",
    },
    {
      name: "web.max-connections",
      help: "open connections at most; past it a new one closes the oldest idle one",
      boolean: false,
      placeholder: "N",
      defaultText: "512",
    },
    {
      name: "web.max-requests",
      help: "requests answered at once at most; past it 503 (0 means no limit)",
      boolean: false,
      placeholder: "N",
      defaultText: "40",
    },
    {
      name: "web.serving-worker",
      help: "serve HTTP from a worker thread: scrapes never wait for a cycle, for ~40 MiB more RSS",
      boolean: true,
    },
    {
      name: "web.disable-exporter-metrics",
      help: "leave out process_* and nodejs_* metrics",
      boolean: true,
    },
    {
      name: "collector.disable-defaults",
      help: "turn every collector off unless enabled by its own flag",
      boolean: true,
    },
    {
      name: "collect.interval",
      help: `time between runs of every collector, ${intervalHelp}`,
      boolean: false,
      placeholder: "DUR",
      defaultText: "each collector's own, 15s",
    },
    {
      name: "collect.timeout",
      help: "a run that takes longer is abandoned and counted as failed",
      boolean: false,
      placeholder: "DUR",
      defaultText: "10s",
    },
    {
      name: "collect.reuse-max-age",
      help: "a collector whose inputs did not change reuses its last facts at most this long (and 19 runs); 0 turns reuse off",
      boolean: false,
      placeholder: "DUR",
      defaultText: "5m",
    },
    {
      name: "collect.rpc-timeout",
      help: "bound of one D-Bus call or HTTP request over a unix socket",
      boolean: false,
      placeholder: "DUR",
      defaultText: "2s",
    },
    {
      name: "path.procfs",
      help: "procfs mountpoint",
      boolean: false,
      placeholder: "DIR",
      defaultText: "/proc",
    },
    {
      name: "path.sysfs",
      help: "sysfs mountpoint",
      boolean: false,
      placeholder: "DIR",
      defaultText: "/sys",
    },
    {
      name: "path.rootfs",
      help: "root of the host filesystem (/etc, /var/lib, /usr)",
      boolean: false,
      placeholder: "DIR",
      defaultText: "/",
    },
    {
      name: "target.user",
      help: "login name or uid to watch; repeat for several (default: the user running the exporter, or, as root, every user with rootless Docker set up: host mode)",
      boolean: false,
      repeatable: true,
      placeholder: "USER",
    },
    {
      name: "target.exclude",
      help: "login name or uid host mode leaves out; repeat for several",
      boolean: false,
      repeatable: true,
      placeholder: "USER",
    },
    {
      name: "target.min-uid",
      help: "lowest uid host mode watches",
      boolean: false,
      placeholder: "UID",
      defaultText: "UID_MIN of /etc/login.defs, else 1000",
    },
    {
      name: "log.level",
      help: `one of ${logLevels.join(", ")}`,
      boolean: false,
      placeholder: "LEVEL",
      defaultText: "info",
    },
  ];
  for (const collector of collectors) {
    specs.push({
      name: `collector.${collector.name}`,
      help: `${collector.description} (default ${collector.defaultEnabled ? "on" : "off"})`,
      boolean: true,
    });
    specs.push({
      name: `collector.${collector.name}.interval`,
      help: `interval of the ${collector.name} collector`,
      boolean: false,
      placeholder: "DUR",
      defaultText: "--collect.interval",
    });
    for (const option of collector.options ?? []) {
      specs.push({
        name: optionFlag(collector.name, option),
        help: option.help,
        boolean: false,
        placeholder: "VALUE",
        defaultText: option.defaultValue,
      });
    }
  }
  return specs;
}

/** ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS for --web.listen-address. */
export function envName(flag: string): string {
  return `ROOTLESS_EXPORTER_${flag.toUpperCase().replace(/[.-]/g, "_")}`;
}

export function helpText(collectors: readonly Collector<unknown>[]): string {
  const lines = [
    "usage: rootless-exporter [flags]",
    "       rootless-exporter check [--json] [--lang=en|zh-CN] [flags]",
    "",
    "Serves Prometheus metrics on the health and setup of rootless Docker.",
    "Every flag may also be set as ROOTLESS_EXPORTER_<FLAG> (dots and dashes as _); flags win.",
    "",
    "flags:",
  ];
  for (const spec of [...flagSpecs(collectors), ...checkSpecs]) {
    const left = spec.boolean
      ? `--[no-]${spec.name}`
      : `--${spec.name}=${spec.placeholder ?? "VALUE"}${spec.repeatable ? " ..." : ""}`;
    const dflt = spec.defaultText ? ` (default ${spec.defaultText})` : "";
    lines.push(`  ${left.padEnd(44)} ${spec.help}${dflt}`);
  }
  lines.push(
    `  ${"-h, --help".padEnd(44)} show this help`,
    `  ${"--version".padEnd(44)} show the version`,
  );
  return lines.join("\n");
}
