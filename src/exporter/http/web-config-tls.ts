import { isAbsolute, join } from "node:path";
import type { YamlValue } from "./web-config-yaml.js";
import type { Node } from "./web-config-nodes.js";
import {
  WebConfigError,
  bool,
  lookup,
  mapping,
  onlyKeys,
  str,
  strList,
} from "./web-config-nodes.js";

/** tls_server_config of the web config: certificates, client auth, versions, suites, curves. */

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

export function parseTls(raw: YamlValue | undefined, dir: string): TlsSettings | undefined {
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
