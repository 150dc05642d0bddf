import type { PeerCertificate, SecureContextOptions, TLSSocket } from "node:tls";
import { readConfigText } from "../../host/config-files.js";
import { DEFAULT_CIPHERS, createSecureContext } from "node:tls";
import type { TlsSettings } from "./web-config.js";
import { WebConfigError } from "./web-config.js";

/** What a tls.Server needs for the next connection: its context and the client-cert policy. */
export interface TlsServerSettings {
  readonly context: SecureContextOptions;
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  readonly settings: TlsSettings;
}

/** The files the TLS settings name, so a change of any of them reloads the context. */
export function tlsFiles(settings: TlsSettings): string[] {
  return [settings.cert, settings.key, settings.clientCa].flatMap((m) =>
    m && "file" in m ? [m.file] : [],
  );
}

function read(material: { file: string } | { pem: string }, key: string): string {
  if ("pem" in material) return material.pem;
  try {
    return readConfigText(material.file);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new WebConfigError(`tls_server_config.${key}: cannot read ${material.file} (${why})`);
  }
}

/** TLS 1.3 suites of Node's defaults: cipher_suites only narrows TLS 1.2, as in Go. */
const tls13Suites = DEFAULT_CIPHERS.split(":").filter((c) => c.startsWith("TLS_"));

/** OpenSSL's reason, e.g. "PEM routines::no start line". */
function why(err: unknown): string {
  return err instanceof Error ? err.message.replace(/^error:[0-9A-F]+:/, "") : String(err);
}

/** Each piece on its own first, so an error says which of the three does not load. */
function check(context: SecureContextOptions, what: string): void {
  try {
    createSecureContext(context);
  } catch (err) {
    throw new WebConfigError(`tls_server_config: ${what}: ${why(err)}`);
  }
}

/** Reads the certificate files and checks that they make a context; throws naming the key. */
export function loadTls(settings: TlsSettings): TlsServerSettings {
  const cert = read(settings.cert, "cert_file");
  const key = read(settings.key, "key_file");
  const ca = settings.clientCa ? read(settings.clientCa, "client_ca_file") : undefined;
  const auth = settings.clientAuth;
  // After reading the CA, as the toolkit: a CA file that is missing says so first.
  if (settings.clientCa && auth === "NoClientCert")
    throw new WebConfigError(
      "tls_server_config.client_ca_file: client CA's have been configured without a Client Auth Policy (set client_auth_type, e.g. RequireAndVerifyClientCert)",
    );
  const names = (m: { file: string } | { pem: string }, file: string, pem: string): string =>
    "file" in m ? `${file} ${m.file}` : pem;
  check({ cert }, `the certificate (${names(settings.cert, "cert_file", "cert")}) does not load`);
  check({ key }, `the key (${names(settings.key, "key_file", "key")}) does not load`);
  check({ cert, key }, "the key does not match the certificate");
  if (ca !== undefined && settings.clientCa)
    check(
      { ca },
      `the client CA (${names(settings.clientCa, "client_ca_file", "client_ca")}) does not load`,
    );
  const context: SecureContextOptions = {
    cert,
    key,
    ca,
    minVersion: settings.minVersion,
    maxVersion: settings.maxVersion,
    honorCipherOrder: settings.preferServerCipherSuites,
    ciphers: settings.ciphers ? [...settings.ciphers, ...tls13Suites].join(":") : undefined,
    ecdhCurve: settings.curves?.join(":"),
  };
  check(context, "the TLS settings do not make a context");
  return {
    context,
    requestCert: auth !== "NoClientCert",
    rejectUnauthorized: auth === "RequireAndVerifyClientCert",
    settings,
  };
}

/**
 * The part of client_auth_type that OpenSSL's own verification does not do: a certificate
 * required but not verified, verified only when given, and client_allowed_sans. Undefined means
 * the connection may go on; else why it is refused.
 */
export function refuseClient(socket: TLSSocket, settings: TlsSettings): string | undefined {
  const cert = socket.getPeerCertificate();
  const given = cert !== null && Object.keys(cert).length > 0;
  switch (settings.clientAuth) {
    case "RequireAnyClientCert":
      if (!given) return "no client certificate";
      break;
    case "VerifyClientCertIfGiven":
      if (given && !socket.authorized)
        return `client certificate not verified: ${String(socket.authorizationError)}`;
      break;
    case "RequireAndVerifyClientCert":
      if (!given || !socket.authorized) return "client certificate missing or not verified";
      break;
    default:
      break;
  }
  if (
    settings.clientAllowedSans &&
    !sans(cert).some((s) => settings.clientAllowedSans?.includes(s))
  )
    return "client certificate has none of client_allowed_sans";
  return undefined;
}

/** DNS, IP, email and URI entries of subjectAltName ("DNS:a, IP Address:1.2.3.4"). */
function sans(cert: PeerCertificate): string[] {
  return (cert.subjectaltname ?? "")
    .split(", ")
    .map((entry) => entry.replace(/^(DNS|IP Address|email|URI):/, ""))
    .filter((value) => value !== "");
}
