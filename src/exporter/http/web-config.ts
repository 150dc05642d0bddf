import type { YamlValue } from "./web-config-yaml.js";
import { YamlError, readYaml } from "./web-config-yaml.js";
import {
  WebConfigError,
  bool,
  mapping,
  onlyKeys,
  parseGoDuration,
  text,
} from "./web-config-nodes.js";
import type { TlsSettings } from "./web-config-tls.js";
import { parseTls } from "./web-config-tls.js";

export { WebConfigError, parseGoDuration } from "./web-config-nodes.js";
export type { ClientAuth, TlsSettings, TlsVersion } from "./web-config-tls.js";

/**
 * The web configuration file of the Prometheus exporter-toolkit (docs/web-configuration.md), the
 * same keys and values as node_exporter's `--web.config.file`, so one file serves both.
 */
export interface WebConfig {
  readonly tls: TlsSettings | undefined;
  /** Extra response headers; only the toolkit's five are allowed. */
  readonly headers: Readonly<Record<string, string>>;
  /** Login -> bcrypt hash; empty means no basic auth. */
  readonly users: ReadonlyMap<string, string>;
  readonly rateLimit: { readonly intervalMs: number; readonly burst: number } | undefined;
  /** HTTP/2 over TLS (ALPN "h2" beside "http/1.1"); the toolkit's default is on. */
  readonly http2: boolean;
}

const allowedHeaders: Readonly<Record<string, readonly string[] | undefined>> = {
  "Strict-Transport-Security": undefined,
  "X-Content-Type-Options": ["nosniff"],
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-XSS-Protection": undefined,
  "Content-Security-Policy": undefined,
};

/** What bcrypt's modular crypt format looks like: $2a$, $2b$ or $2y$, a cost, 53 characters. */
const bcryptPattern = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

const http2Ciphers = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"];

function parseHttp(raw: YamlValue | undefined): {
  headers: Record<string, string>;
  http2: boolean;
} {
  const node = mapping(raw, "http_server_config");
  onlyKeys(node, ["http2", "headers"], "http_server_config");
  const http2 = bool(node, "http2", "http_server_config", true);
  const headers = mapping(node.get("headers"), "http_server_config.headers");
  const out: Record<string, string> = {};
  for (const [name, raw] of headers) {
    const where = `http_server_config.headers.${name}`;
    if (!Object.hasOwn(allowedHeaders, name))
      throw new WebConfigError(
        `${where}: HTTP header "${name}" can not be configured (only ${Object.keys(allowedHeaders).join(", ")})`,
      );
    const value = text(raw, where) ?? "";
    const allowed = allowedHeaders[name];
    if (allowed && !allowed.includes(value))
      throw new WebConfigError(
        `${where}: invalid value, expected one of ${allowed.join(", ")}, got "${value}"`,
      );
    // "Unset if blank", as the toolkit's docs say.
    if (value !== "") out[name] = value;
  }
  return { headers: out, http2 };
}

function parseUsers(raw: YamlValue | undefined): Map<string, string> {
  const node = mapping(raw, "basic_auth_users");
  const users = new Map<string, string>();
  for (const [name, value] of node) {
    const where = `basic_auth_users.${name}`;
    const hash = text(value, where) ?? "";
    const match = bcryptPattern.exec(hash);
    if (!match)
      throw new WebConfigError(
        `${where}: not a bcrypt hash ($2a$, $2b$ or $2y$, a two-digit cost and 53 characters; e.g. htpasswd -nBC 10 "" | tr -d ':\\n')`,
      );
    const cost = Number(match[1]);
    if (cost < 4 || cost > 31)
      throw new WebConfigError(`${where}: bcrypt cost ${cost} is out of 4-31`);
    users.set(name, hash);
  }
  return users;
}

/**
 * Go's time.Duration as yaml.v2 reads it: a string through time.ParseDuration ("1s", "1.5s",
 * "1m30s"), a bare number as nanoseconds; zero turns the limit off.
 */
function parseRateLimit(raw: YamlValue | undefined): WebConfig["rateLimit"] {
  const node = mapping(raw, "rate_limit");
  onlyKeys(node, ["interval", "burst"], "rate_limit");
  const interval = node.get("interval");
  const burst = node.get("burst");
  let intervalMs: number | undefined = 0;
  if (interval?.kind === "scalar" && typeof interval.value === "number")
    intervalMs = Number.isInteger(interval.value) ? interval.value / 1e6 : undefined;
  else if (interval !== undefined && !(interval.kind === "scalar" && interval.value === null)) {
    const written = text(interval, "rate_limit.interval") ?? "";
    intervalMs = parseGoDuration(written);
    if (intervalMs === undefined)
      throw new WebConfigError(
        `rate_limit.interval: expected a duration such as 1s, 1.5s or 100ms, got "${written}"`,
      );
  }
  if (intervalMs === undefined)
    throw new WebConfigError("rate_limit.interval: expected a duration such as 1s or 100ms");
  let tokens = 0;
  if (burst !== undefined && !(burst.kind === "scalar" && burst.value === null)) {
    if (
      burst.kind !== "scalar" ||
      typeof burst.value !== "number" ||
      !Number.isInteger(burst.value)
    )
      throw new WebConfigError("rate_limit.burst: expected a whole number");
    tokens = burst.value;
  }
  // Go's rate.Every makes a negative interval "no limit", as zero is.
  if (intervalMs <= 0) return undefined;
  // Go's rate.Limiter with a burst below one lets nothing through.
  return { intervalMs, burst: Math.max(0, tokens) };
}

/**
 * Parses and checks the file's text. `dir` is the file's directory, against which relative
 * certificate paths resolve. Throws WebConfigError naming the key that is wrong.
 */
export function parseWebConfig(text: string, dir: string): WebConfig {
  let doc: YamlValue | undefined;
  try {
    doc = readYaml(text);
  } catch (err) {
    if (err instanceof YamlError) throw new WebConfigError(`not valid YAML: ${err.message}`);
    throw err;
  }
  const root = mapping(doc, "the file");
  onlyKeys(root, ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"], "");
  const tls = parseTls(root.get("tls_server_config"), dir);
  const { headers, http2 } = parseHttp(root.get("http_server_config"));
  if (
    tls?.ciphers &&
    http2 &&
    tls.minVersion !== "TLSv1.3" &&
    !tls.ciphers.some((c) => http2Ciphers.includes(c))
  )
    throw new WebConfigError(
      "tls_server_config.cipher_suites: HTTP/2 needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 in the list (as Go's net/http; or set http_server_config.http2: false)",
    );
  return {
    tls,
    headers,
    users: parseUsers(root.get("basic_auth_users")),
    rateLimit: parseRateLimit(root.get("rate_limit")),
    http2,
  };
}
