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
  /** --collect.reuse-max-age: how long unchanged inputs may reuse facts (0: never; default 5m). */
  readonly reuseMaxAgeMs?: number;
  /** Collector-declared flags by full name ("collector.dbus.units"), when given. */
  readonly collectorOptions: Readonly<Record<string, string>>;
  readonly roots: HostRoots;
  readonly logLevel: LogLevel;
  /**
   * Login names or uids to watch. Empty: the account running the exporter, or, run as root,
   * every candidate user of the host (host mode).
   */
  readonly targetUsers: readonly string[];
  /** Login names or uids never watched in host mode. */
  readonly targetExclude: readonly string[];
  /** The lowest uid host mode watches; undefined: UID_MIN of /etc/login.defs, else 1000. */
  readonly targetMinUid: number | undefined;
  /** The HTTP side: TLS, auth and limits (see exporter/http/server.ts). */
  readonly web: WebSettings;
}

export interface WebSettings {
  /** --web.config.file: TLS, basic auth, headers, rate limit, exporter-toolkit format. */
  readonly configFile: string | undefined;
  readonly maxConnections: number;
  readonly maxRequests: number;
  /** --web.serving-worker: HTTP served from a worker thread instead of the main thread. */
  readonly servingWorker: boolean;
}

/** Paths the HTTP server answers besides the telemetry path, which must not shadow them. */
export const fixedPaths: readonly string[] = ["/", "/checks", "/healthz"];

/** A bad command line or environment: main prints it on one line and exits 2. */
export class UsageError extends Error {}

export { maxTimerMs, parseBytes, parseDuration } from "./units.js";
export { cronForInterval } from "./exporter/schedule/intervals.js";

/** "host:port", ":port" or "[v6]:port". */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? match[2];
  return { host: host === "" || host === undefined ? undefined : host, port };
}
