import { isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { parseDuration } from "../units.js";

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

/** Go's tls.CipherSuites() for TLS 1.0-1.2 (the secure list) by Go name -> OpenSSL name. */
const cipherSuites: Readonly<Record<string, string>> = {
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

type Node = Record<string, unknown>;

function mapping(value: unknown, where: string): Node {
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new WebConfigError(`${where}: expected a mapping`);
  return value as Node;
}

function onlyKeys(node: Node, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(node)) {
    if (!allowed.includes(key))
      throw new WebConfigError(`${where === "" ? "" : `${where}.`}${key}: unknown key`);
  }
}

function str(node: Node, key: string, where: string): string | undefined {
  const value = node[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new WebConfigError(`${where}.${key}: expected a string`);
  return value;
}

function strList(node: Node, key: string, where: string): string[] | undefined {
  const value = node[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
    throw new WebConfigError(`${where}.${key}: expected a list of strings`);
  return value as string[];
}

/** A file relative to the config file's directory, as the toolkit resolves it. */
function material(
  node: Node,
  fileKey: string,
  pemKey: string,
  dir: string,
): { file: string } | { pem: string } | undefined {
  const file = str(node, fileKey, "tls_server_config");
  const pem = str(node, pemKey, "tls_server_config");
  if (file !== undefined && file !== "" && pem !== undefined && pem !== "")
    throw new WebConfigError(
      `tls_server_config.${pemKey}: give either ${pemKey} or ${fileKey}, not both`,
    );
  if (file !== undefined && file !== "") return { file: isAbsolute(file) ? file : join(dir, file) };
  if (pem !== undefined && pem !== "") return { pem };
  return undefined;
}

function version(node: Node, key: string, fallback: TlsVersion): TlsVersion {
  const raw = str(node, key, "tls_server_config");
  if (raw === undefined) return fallback;
  const parsed = tlsVersions[raw];
  if (!parsed)
    throw new WebConfigError(
      `tls_server_config.${key}: expected one of ${Object.keys(tlsVersions).join(", ")}, got "${raw}"`,
    );
  return parsed;
}

function parseTls(raw: unknown, dir: string): TlsSettings | undefined {
  const node = mapping(raw, "tls_server_config");
  const where = "tls_server_config";
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
  // As the toolkit: any TLS key present turns TLS on, and then cert and key are required.
  if (!cert && !key && !clientCa && (authRaw === undefined || authRaw === "")) return undefined;
  if (!cert) throw new WebConfigError(`${where}.cert_file: missing (or cert)`);
  if (!key) throw new WebConfigError(`${where}.key_file: missing (or key)`);
  const clientAuth =
    clientAuths[authRaw === undefined || authRaw === "" ? "NoClientCert" : authRaw];
  if (!clientAuth)
    throw new WebConfigError(
      `${where}.client_auth_type: expected one of ${Object.keys(clientAuths).join(", ")}, got "${authRaw}"`,
    );
  if (clientCa && clientAuth === "NoClientCert")
    throw new WebConfigError(
      `${where}.client_ca_file: a client CA is configured without a client auth policy (set client_auth_type, e.g. RequireAndVerifyClientCert)`,
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
    const openssl = cipherSuites[name];
    if (!openssl)
      throw new WebConfigError(`${where}.cipher_suites: unknown cipher suite "${name}"`);
    return openssl;
  });
  const curveList = strList(node, "curve_preferences", where)?.map((name) => {
    const openssl = curves[name];
    if (!openssl) throw new WebConfigError(`${where}.curve_preferences: unknown curve "${name}"`);
    return openssl;
  });
  const prefer = node["prefer_server_cipher_suites"];
  if (prefer !== undefined && typeof prefer !== "boolean")
    throw new WebConfigError(`${where}.prefer_server_cipher_suites: expected true or false`);
  return {
    cert,
    key,
    clientCa,
    clientAuth,
    clientAllowedSans,
    minVersion,
    maxVersion,
    ciphers: ciphers && ciphers.length > 0 ? ciphers : undefined,
    preferServerCipherSuites: prefer ?? true,
    curves: curveList && curveList.length > 0 ? curveList : undefined,
  };
}

function parseHeaders(raw: unknown): Record<string, string> {
  const node = mapping(raw, "http_server_config");
  onlyKeys(node, ["http2", "headers"], "http_server_config");
  if (node["http2"] !== undefined && typeof node["http2"] !== "boolean")
    throw new WebConfigError("http_server_config.http2: expected true or false");
  const headers = mapping(node["headers"], "http_server_config.headers");
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const where = `http_server_config.headers.${name}`;
    if (!(name in allowedHeaders))
      throw new WebConfigError(
        `${where}: this header cannot be configured (only ${Object.keys(allowedHeaders).join(", ")})`,
      );
    if (typeof value !== "string") throw new WebConfigError(`${where}: expected a string`);
    const allowed = allowedHeaders[name];
    if (allowed && !allowed.includes(value))
      throw new WebConfigError(`${where}: expected one of ${allowed.join(", ")}, got "${value}"`);
    // "Unset if blank", as the toolkit's docs say.
    if (value !== "") out[name] = value;
  }
  return out;
}

function parseUsers(raw: unknown): Map<string, string> {
  const node = mapping(raw, "basic_auth_users");
  const users = new Map<string, string>();
  for (const [name, hash] of Object.entries(node)) {
    const where = `basic_auth_users.${name}`;
    if (typeof hash !== "string") throw new WebConfigError(`${where}: expected a bcrypt hash`);
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

/** Go's time.Duration as yaml.v2 reads it: "1s", "250ms", "1m30s", or 0. */
function parseRateLimit(raw: unknown): WebConfig["rateLimit"] {
  const node = mapping(raw, "rate_limit");
  onlyKeys(node, ["interval", "burst"], "rate_limit");
  const interval = node["interval"];
  const burst = node["burst"] ?? 0;
  if (interval === undefined || interval === 0 || interval === "0" || interval === "0s")
    return undefined;
  const intervalMs = typeof interval === "string" ? parseDuration(interval) : undefined;
  if (intervalMs === undefined)
    throw new WebConfigError(
      `rate_limit.interval: expected a duration such as 1s or 100ms, got ${JSON.stringify(interval)}`,
    );
  if (typeof burst !== "number" || !Number.isInteger(burst) || burst < 0)
    throw new WebConfigError("rate_limit.burst: expected a whole number");
  return { intervalMs, burst };
}

/**
 * Parses and checks the file's text. `dir` is the file's directory, against which relative
 * certificate paths resolve. Throws WebConfigError naming the key that is wrong.
 */
export function parseWebConfig(text: string, dir: string): WebConfig {
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n", 1)[0] : String(err);
    throw new WebConfigError(`not valid YAML: ${message}`);
  }
  const root = mapping(doc, "the file");
  onlyKeys(root, ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"], "");
  return {
    tls: parseTls(root["tls_server_config"], dir),
    headers: parseHeaders(root["http_server_config"]),
    users: parseUsers(root["basic_auth_users"]),
    rateLimit: parseRateLimit(root["rate_limit"]),
  };
}
