import { isAbsolute, join } from "node:path";
import type { YamlValue } from "./web-config-yaml.js";
import { YamlError, readYaml } from "./web-config-yaml.js";

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

/** The toolkit's client_auth_type values (Go's tls.ClientAuthType names). */
export type ClientAuth =
  | "NoClientCert"
  | "RequestClientCert"
  | "RequireAnyClientCert"
  | "VerifyClientCertIfGiven"
  | "RequireAndVerifyClientCert";

export interface TlsSettings {
  /** A path (cert_file) or PEM text (cert); exactly one is set. */
  readonly cert: { readonly file: string } | { readonly pem: string };
  readonly key: { readonly file: string } | { readonly pem: string };
  readonly clientCa: { readonly file: string } | { readonly pem: string } | undefined;
  readonly clientAuth: ClientAuth;
  readonly clientAllowedSans: readonly string[] | undefined;
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** OpenSSL names of the TLS 1.2 suites asked for; undefined means Node's defaults. */
  readonly ciphers: readonly string[] | undefined;
  readonly preferServerCipherSuites: boolean;
  /** OpenSSL curve names, in preference order. */
  readonly curves: readonly string[] | undefined;
}

export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

/** A bad web configuration: main prints it on one line and exits 2. */
export class WebConfigError extends Error {}

const tlsVersions: Readonly<Record<string, TlsVersion>> = {
  TLS10: "TLSv1",
  TLS11: "TLSv1.1",
  TLS12: "TLSv1.2",
  TLS13: "TLSv1.3",
};
const versionOrder: readonly TlsVersion[] = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

const clientAuths: Readonly<Record<string, ClientAuth>> = {
  NoClientCert: "NoClientCert",
  RequestClientCert: "RequestClientCert",
  RequireAnyClientCert: "RequireAnyClientCert",
  // The toolkit keeps this older spelling for backwards compatibility.
  RequireClientCert: "RequireAnyClientCert",
  VerifyClientCertIfGiven: "VerifyClientCertIfGiven",
  RequireAndVerifyClientCert: "RequireAndVerifyClientCert",
};

/**
 * Go's tls.CipherSuites() by Go name -> OpenSSL name. The TLS 1.3 three map to "": Go always
 * offers all of them whatever the list says, and so do we.
 */
const cipherSuites: Readonly<Record<string, string>> = {
  TLS_AES_128_GCM_SHA256: "",
  TLS_AES_256_GCM_SHA384: "",
  TLS_CHACHA20_POLY1305_SHA256: "",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
};

const curves: Readonly<Record<string, string>> = {
  CurveP256: "P-256",
  CurveP384: "P-384",
  CurveP521: "P-521",
  X25519: "X25519",
};

/** The toolkit's extraHTTPHeaders: the headers it lets a file set, and their allowed values. */
const allowedHeaders: Readonly<Record<string, readonly string[] | undefined>> = {
  "Strict-Transport-Security": undefined,
  "X-Content-Type-Options": ["nosniff"],
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-XSS-Protection": undefined,
  "Content-Security-Policy": undefined,
};

/** What bcrypt's modular crypt format looks like: $2a$, $2b$ or $2y$, a cost, 53 characters. */
const bcryptPattern = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

type Node = ReadonlyMap<string, YamlValue>;

function mapping(value: YamlValue | undefined, where: string): Node {
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return new Map();
  if (value.kind !== "mapping") throw new WebConfigError(`${where}: expected a mapping`);
  return value.entries;
}

function onlyKeys(node: Node, allowed: readonly string[], where: string): void {
  for (const [key, value] of node) {
    if (!allowed.includes(key))
      throw new WebConfigError(
        `${where === "" ? "" : `${where}.`}${key}: unknown key (line ${value.line})`,
      );
  }
}

/** As yaml.v2 fills a string: any scalar's text, null as absent. */
function text(value: YamlValue | undefined, where: string): string | undefined {
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return undefined;
  if (value.kind !== "scalar") throw new WebConfigError(`${where}: expected a string`);
  return value.text;
}

function str(node: Node, key: string, where: string): string | undefined {
  return text(node.get(key), `${where}.${key}`);
}

function strList(node: Node, key: string, where: string): string[] | undefined {
  const value = node.get(key);
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return undefined;
  if (value.kind !== "sequence") throw new WebConfigError(`${where}.${key}: expected a list`);
  return value.items.map((item) => text(item, `${where}.${key}`) ?? "");
}

/** YAML 1.1 booleans (true, yes, on, y and their opposites), as yaml.v2 reads a bool. */
function bool(node: Node, key: string, where: string, fallback: boolean): boolean {
  const value = node.get(key);
  if (value === undefined || (value.kind === "scalar" && value.value === null)) return fallback;
  if (value.kind !== "scalar" || typeof value.value !== "boolean")
    throw new WebConfigError(`${where}.${key}: expected true or false`);
  return value.value;
}

const durationUnits: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration ("1.5s", "1h30m", ".5s", "-1s"), in milliseconds. */
export function parseGoDuration(raw: string): number | undefined {
  const match = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)$/.exec(raw);
  if (!match?.[2]) return undefined;
  let ms = 0;
  for (const [, number, unit] of match[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g))
    ms += Number(number) * (durationUnits[unit ?? ""] ?? NaN);
  return match[1] === "-" ? -ms : ms;
}

/** An own entry of a fixed table: "toString" or "__proto__" in a file names nothing. */
function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * A file relative to the config file's directory, as the toolkit resolves it. Given both, the
 * file wins, as in the toolkit.
 */
function material(
  node: Node,
  fileKey: string,
  pemKey: string,
  dir: string,
): { file: string } | { pem: string } | undefined {
  const file = str(node, fileKey, "tls_server_config");
  const pem = str(node, pemKey, "tls_server_config");
  if (file !== undefined && file !== "") return { file: isAbsolute(file) ? file : join(dir, file) };
  if (pem !== undefined && pem !== "") return { pem };
  return undefined;
}

function version(node: Node, key: string, fallback: TlsVersion): TlsVersion {
  const raw = str(node, key, "tls_server_config");
  if (raw === undefined) return fallback;
  const parsed = lookup(tlsVersions, raw);
  if (!parsed)
    throw new WebConfigError(
      `tls_server_config.${key}: unknown TLS version "${raw}" (expected one of ${Object.keys(tlsVersions).join(", ")})`,
    );
  return parsed;
}

function parseTls(raw: YamlValue | undefined, dir: string): TlsSettings | undefined {
  const where = "tls_server_config";
  const node = mapping(raw, where);
  onlyKeys(
    node,
    [
      "cert",
      "key",
      "client_ca",
      "cert_file",
      "key_file",
      "client_auth_type",
      "client_ca_file",
      "client_allowed_sans",
      "min_version",
      "max_version",
      "cipher_suites",
      "prefer_server_cipher_suites",
      "curve_preferences",
    ],
    where,
  );
  const cert = material(node, "cert_file", "cert", dir);
  const key = material(node, "key_file", "key", dir);
  const clientCa = material(node, "client_ca_file", "client_ca", dir);
  const authRaw = str(node, "client_auth_type", where);
  // As the toolkit's IsEnabled: any TLS key present turns TLS on, and then cert and key are required.
  if (!cert && !key && !clientCa && (authRaw === undefined || authRaw === "")) return undefined;
  if (!cert) throw new WebConfigError(`${where}: missing one of cert or cert_file`);
  if (!key) throw new WebConfigError(`${where}: missing one of key or key_file`);
  const clientAuth = lookup(
    clientAuths,
    authRaw === undefined || authRaw === "" ? "NoClientCert" : authRaw,
  );
  if (!clientAuth)
    throw new WebConfigError(
      `${where}.client_auth_type: invalid ClientAuth "${authRaw}" (expected one of ${Object.keys(clientAuths).join(", ")})`,
    );
  const clientAllowedSans = strList(node, "client_allowed_sans", where);
  if (
    clientAllowedSans !== undefined &&
    clientAuth !== "RequireAnyClientCert" &&
    clientAuth !== "RequireAndVerifyClientCert"
  )
    throw new WebConfigError(
      `${where}.client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert`,
    );
  const minVersion = version(node, "min_version", "TLSv1.2");
  const maxVersion = version(node, "max_version", "TLSv1.3");
  if (versionOrder.indexOf(minVersion) > versionOrder.indexOf(maxVersion))
    throw new WebConfigError(`${where}.min_version: above max_version`);
  const ciphers = strList(node, "cipher_suites", where)?.map((name) => {
    const openssl = lookup(cipherSuites, name);
    if (openssl === undefined)
      throw new WebConfigError(`${where}.cipher_suites: unknown cipher "${name}"`);
    return openssl;
  });
  const curveList = strList(node, "curve_preferences", where)?.map((name) => {
    const openssl = lookup(curves, name);
    if (!openssl) throw new WebConfigError(`${where}.curve_preferences: unknown curve "${name}"`);
    return openssl;
  });
  return {
    cert,
    key,
    clientCa,
    clientAuth,
    clientAllowedSans,
    minVersion,
    maxVersion,
    ciphers: ciphers && ciphers.length > 0 ? ciphers.filter((c) => c !== "") : undefined,
    preferServerCipherSuites: bool(node, "prefer_server_cipher_suites", where, true),
    curves: curveList && curveList.length > 0 ? curveList : undefined,
  };
}

/** Go's net/http refuses HTTP/2 with a TLS 1.2 list that lacks both of these (RFC 7540 9.2.2). */
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
