import type { HostRoots } from "./host/paths.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export const logLevels: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export interface ListenAddress {
  /** Undefined means every interface, as ":10049" does for node_exporter. */
  readonly host: string | undefined;
  readonly port: number;
}

export interface CollectorSetting {
  readonly name: string;
  readonly enabled: boolean;
  readonly intervalSeconds: number;
}

export interface Config {
  readonly listen: ListenAddress;
  readonly telemetryPath: string;
  readonly disableExporterMetrics: boolean;
  readonly collectors: readonly CollectorSetting[];
  readonly timeoutMs: number;
  /** Bound of one D-Bus call or unix-socket HTTP request. */
  readonly rpcTimeoutMs: number;
  /** Collector-declared flags by full name ("collector.dbus.units"), when given. */
  readonly collectorOptions: Readonly<Record<string, string>>;
  readonly roots: HostRoots;
  readonly logLevel: LogLevel;
  /** A login name or uid to watch instead of the account running the exporter. */
  readonly targetUser: string | undefined;
}

/** A bad command line or environment: main prints it on one line and exits 2. */
export class UsageError extends Error {}

const durationPattern = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** A Prometheus-style duration ("15s", "1m30s", "500ms") in milliseconds; undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  const match = durationPattern.exec(text);
  if (!match || text === "") return undefined;
  const [, h = "0", m = "0", s = "0", ms = "0"] = match;
  const total = ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms);
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}

/** "host:port", ":port" or "[v6]:port". */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? match[2];
  return { host: host === "" || host === undefined ? undefined : host, port };
}

/**
 * The node-cron expression that fires every `seconds`, aligned to the clock. Cron can only express
 * intervals that divide a minute, an hour or a day; others are refused rather than drifting.
 */
export function cronForInterval(seconds: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < 1) return undefined;
  if (seconds < 60) return 60 % seconds === 0 ? `*/${seconds} * * * * *` : undefined;
  if (seconds % 60 !== 0) return undefined;
  const minutes = seconds / 60;
  if (minutes < 60) return 60 % minutes === 0 ? `0 */${minutes} * * * *` : undefined;
  if (minutes % 60 !== 0) return undefined;
  const hours = minutes / 60;
  if (hours === 24) return "0 0 0 * * *";
  return hours < 24 && 24 % hours === 0 ? `0 0 */${hours} * * *` : undefined;
}

/** A byte count: "67108864", "64MiB", "512KiB", "1GiB" (binary units), or "10MB" (decimal). */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d{1,12})(B|KiB|MiB|GiB|KB|MB|GB)?$/.exec(text);
  if (!match) return undefined;
  const units: Record<string, number> = {
    B: 1,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
  };
  const value = Number(match[1]) * (units[match[2] ?? "B"] ?? 1);
  return value > 0 && Number.isSafeInteger(value) ? value : undefined;
}
