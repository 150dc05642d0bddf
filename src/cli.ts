import type { Lang } from "./checks/finding.js";
import { langs } from "./checks/finding.js";
import { collectValues } from "./cli/argv.js";
import { countFlag, intervalFlag, timerFlag } from "./cli/flag-values.js";
import { checkSpecs, envName, flagSpecs, optionFlag } from "./cli/flags.js";
import type { Collector } from "./collectors/collector.js";
import type { CollectorSetting, Config, LogLevel } from "./config.js";
import { UsageError, fixedPaths, logLevels, parseListenAddress } from "./config.js";

export { envName, helpText } from "./cli/flags.js";

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
  const reuseRaw = text("collect.reuse-max-age", "5m");
  const reuseMaxAgeMs = /^0+(s|m|h|ms)?$/.test(reuseRaw)
    ? 0
    : timerFlag("collect.reuse-max-age", reuseRaw);
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
    reuseMaxAgeMs,
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
      servingWorker: flag("web.serving-worker") ?? false,
    },
  };
  if (!checking) return { kind: "serve", config };
  const lang = text("lang", "en");
  if (!langs.includes(lang as Lang))
    throw new UsageError(`--lang: expected en or zh-CN, got "${lang}"`);
  return { kind: "check", config, json: flag("json") ?? false, lang: lang as Lang };
}
