import type { Lang } from "./checks/finding.js";
import { langs } from "./checks/finding.js";
import type { Collector, CollectorOption } from "./collectors/collector.js";
import type { CollectorSetting, Config, LogLevel } from "./config.js";
import {
  UsageError,
  cronForInterval,
  fixedPaths,
  logLevels,
  maxTimerMs,
  parseDuration,
  parseListenAddress,
} from "./config.js";

interface FlagSpec {
  readonly name: string;
  readonly help: string;
  /** Boolean flags take no value: --x, --x=false, --no-x. */
  readonly boolean: boolean;
  /** May be given several times; its environment variable takes a comma-separated list. */
  readonly repeatable?: boolean;
  readonly placeholder?: string;
  readonly defaultText?: string;
}

export type Command =
  | { readonly kind: "serve"; readonly config: Config }
  | {
      readonly kind: "check";
      readonly config: Config;
      readonly json: boolean;
      readonly lang: Lang;
    }
  | { readonly kind: "help" }
  | { readonly kind: "version" };

const intervalHelp = "a duration that divides a minute, an hour or a day, e.g. 15s, 1m, 1h";

/** The flag of a collector-declared option: its own name, or collector.<collector>.<option>. */
export function optionFlag(collector: string, option: CollectorOption): string {
  return option.flag ?? `collector.${collector}.${option.name}`;
}

/** Flags of `rootless-exporter check` only. */
const checkSpecs: readonly FlagSpec[] = [
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

function flagSpecs(collectors: readonly Collector<unknown>[]): FlagSpec[] {
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

function parseBoolean(flag: string, raw: string, from: string): boolean {
  if (["true", "1", "yes"].includes(raw)) return true;
  if (["false", "0", "no"].includes(raw)) return false;
  throw new UsageError(`${from}${flag}: expected true or false, got "${raw}"`);
}

/** Flag values by name, first from the environment, then overridden by argv. */
function collectValues(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  specs: readonly FlagSpec[],
): Map<string, string | boolean | string[]> {
  const byName = new Map(specs.map((spec) => [spec.name, spec] as const));
  const values = new Map<string, string | boolean | string[]>();
  for (const spec of specs) {
    const raw = env[envName(spec.name)];
    if (raw === undefined) continue;
    values.set(
      spec.name,
      spec.boolean
        ? parseBoolean(spec.name, raw, `${envName(spec.name)} for --`)
        : spec.repeatable
          ? raw.split(",").filter((v) => v !== "")
          : raw,
    );
  }
  // A repeatable flag on the command line replaces its environment variable's list.
  const fromArgv = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"; see --help`);
    const eq = arg.indexOf("=");
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    let negated = false;
    if (!byName.has(name) && name.startsWith("no-") && byName.get(name.slice(3))?.boolean) {
      name = name.slice(3);
      negated = true;
    }
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag --${name}; see --help`);
    if (spec.boolean) {
      if (negated && inline !== undefined) throw new UsageError(`--no-${name} takes no value`);
      values.set(
        name,
        negated ? false : inline === undefined ? true : parseBoolean(name, inline, "--"),
      );
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined)
      throw new UsageError(`--${name}: expected a value (${spec.placeholder})`);
    if (spec.repeatable) {
      const list = fromArgv.has(name) ? (values.get(name) as string[]) : [];
      fromArgv.add(name);
      values.set(name, [...list, ...(value === "" ? [] : [value])]);
      continue;
    }
    values.set(name, value);
  }
  return values;
}

function durationFlag(name: string, raw: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined) {
    throw new UsageError(
      `--${name}: expected a positive duration such as 10s, 1m or 1h30m, got "${raw}"`,
    );
  }
  return ms;
}

/** A duration that becomes a Node timer, so it must fit one (else it would fire after 1 ms). */
function timerFlag(name: string, raw: string): number {
  const ms = durationFlag(name, raw);
  if (ms > maxTimerMs) {
    throw new UsageError(
      `--${name}: at most ${Math.floor(maxTimerMs / 1000)}s (Node's longest timer, about 24.8 days), got "${raw}"`,
    );
  }
  return ms;
}

function countFlag(name: string, raw: string, min: number): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min)
    throw new UsageError(`--${name}: expected a whole number of at least ${min}, got "${raw}"`);
  return Number(raw);
}

function intervalFlag(name: string, raw: string): number {
  const ms = durationFlag(name, raw);
  const seconds = ms / 1000;
  if (cronForInterval(seconds) === undefined) {
    throw new UsageError(`--${name}: expected ${intervalHelp}; got "${raw}"`);
  }
  return seconds;
}

export function parseCommandLine(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  collectors: readonly Collector<unknown>[],
): Command {
  if (argv.includes("--help") || argv.includes("-h")) return { kind: "help" };
  if (argv.includes("--version")) return { kind: "version" };
  const checking = argv[0] === "check";
  const specs = flagSpecs(collectors);
  if (checking) specs.push(...checkSpecs);
  const values = collectValues(checking ? argv.slice(1) : argv, env, specs);
  const text = (name: string, fallback: string): string => {
    const value = values.get(name);
    return typeof value === "string" ? value : fallback;
  };
  const flag = (name: string): boolean | undefined => {
    const value = values.get(name);
    return typeof value === "boolean" ? value : undefined;
  };

  const listenRaw = text("web.listen-address", ":10049");
  const listen = parseListenAddress(listenRaw);
  if (!listen) {
    throw new UsageError(
      `--web.listen-address: expected [host]:port with a port from 0 to 65535, got "${listenRaw}"`,
    );
  }
  const telemetryPath = text("web.telemetry-path", "/metrics");
  // The path is matched exactly, so it must not be one the server already answers.
  if (!/^\/[\w./-]*$/.test(telemetryPath) || fixedPaths.includes(telemetryPath)) {
    throw new UsageError(
      `--web.telemetry-path: expected a path such as /metrics, other than ${fixedPaths.join(", ")}, got "${telemetryPath}"`,
    );
  }
  const logLevel = text("log.level", "info");
  if (!logLevels.includes(logLevel as LogLevel)) {
    throw new UsageError(`--log.level: expected one of ${logLevels.join(", ")}, got "${logLevel}"`);
  }
  const interval = intervalFlag("collect.interval", text("collect.interval", "15s"));
  const timeoutMs = timerFlag("collect.timeout", text("collect.timeout", "10s"));
  const rpcTimeoutMs = timerFlag("collect.rpc-timeout", text("collect.rpc-timeout", "2s"));
  const maxRequests = countFlag("web.max-requests", text("web.max-requests", "40"), 0);
  const webConfigFile = text("web.config.file", "");
  const collectorOptions: Record<string, string> = {};
  for (const collector of collectors) {
    for (const option of collector.options ?? []) {
      const name = optionFlag(collector.name, option);
      const value = values.get(name);
      if (typeof value !== "string") continue;
      const problem = option.validate?.(value);
      if (problem) throw new UsageError(`--${name}: ${problem}, got "${value}"`);
      collectorOptions[name] = value;
    }
  }
  const disableDefaults = flag("collector.disable-defaults") ?? false;
  const settings: CollectorSetting[] = collectors.map((collector) => {
    const own = values.get(`collector.${collector.name}.interval`);
    const explicitInterval =
      values.has("collect.interval") || env[envName("collect.interval")] !== undefined;
    return {
      name: collector.name,
      enabled:
        flag(`collector.${collector.name}`) ?? (collector.defaultEnabled && !disableDefaults),
      intervalSeconds:
        typeof own === "string"
          ? intervalFlag(`collector.${collector.name}.interval`, own)
          : explicitInterval
            ? interval
            : collector.defaultIntervalSeconds,
    };
  });
  const list = (name: string): string[] => {
    const value = values.get(name);
    return Array.isArray(value) ? value : [];
  };
  const account = /^[a-z_][a-z0-9_.-]*\$?$|^\d{1,10}$/i;
  for (const name of ["target.user", "target.exclude"]) {
    const bad = list(name).find((v) => !account.test(v));
    if (bad !== undefined)
      throw new UsageError(`--${name}: expected a login name or a uid, got "${bad}"`);
  }
  const minUidRaw = values.get("target.min-uid");
  let targetMinUid: number | undefined;
  if (typeof minUidRaw === "string") {
    if (!/^\d{1,10}$/.test(minUidRaw) || Number(minUidRaw) > 0xfffffffe)
      throw new UsageError(`--target.min-uid: expected a uid such as 1000, got "${minUidRaw}"`);
    targetMinUid = Number(minUidRaw);
  }
  const config: Config = {
    listen,
    telemetryPath,
    disableExporterMetrics: flag("web.disable-exporter-metrics") ?? false,
    collectors: settings,
    timeoutMs,
    rpcTimeoutMs,
    collectorOptions,
    roots: {
      procfs: text("path.procfs", "/proc"),
      sysfs: text("path.sysfs", "/sys"),
      rootfs: text("path.rootfs", "/"),
    },
    logLevel: logLevel as LogLevel,
    targetUsers: [...new Set(list("target.user"))],
    targetExclude: list("target.exclude"),
    targetMinUid,
    web: {
      configFile: webConfigFile === "" ? undefined : webConfigFile,
      maxConnections: countFlag("web.max-connections", text("web.max-connections", "512"), 1),
      maxRequests: maxRequests === 0 ? Number.MAX_SAFE_INTEGER : maxRequests,
    },
  };
  if (!checking) return { kind: "serve", config };
  const lang = text("lang", "en");
  if (!langs.includes(lang as Lang))
    throw new UsageError(`--lang: expected en or zh-CN, got "${lang}"`);
  return { kind: "check", config, json: flag("json") ?? false, lang: lang as Lang };
}
