import { describe, expect, it } from "vitest";
import { WebConfigError, parseWebConfig } from "../../src/exporter/web-config.js";

// A real cost-4 hash (of "secret"), written with each prefix htpasswd and the libraries use.
const tail = "04$1elHgnwb4lct88QSJXYV.OVR8f7puxj35rBrYpoSpE024zISQyuxC";
const hash = (prefix: string) => `${prefix}${tail}`;

function problem(text: string): string {
  try {
    parseWebConfig(text, "/etc/rootless-exporter");
  } catch (err) {
    if (err instanceof WebConfigError) return err.message;
    throw err;
  }
  return "ok";
}

describe("parseWebConfig: refused, naming the key", () => {
  it.each([
    ["bad YAML", "basic_auth_users: [x", /^not valid YAML/],
    ["duplicate key", "rate_limit: {}\nrate_limit: {}", /^not valid YAML: Map keys must be unique/],
    ["not a mapping", "- a\n- b", /^the file: expected a mapping/],
    ["unknown top-level key", "basic_auth_user: {}", /^basic_auth_user: unknown key/],
    [
      "unknown TLS key",
      "tls_server_config:\n  certfile: x",
      /^tls_server_config.certfile: unknown key/,
    ],
    ["unknown rate_limit key", "rate_limit:\n  every: 1s", /^rate_limit.every: unknown key/],
    [
      "short hash",
      `basic_auth_users:\n  alice: "${hash("$2y$").slice(0, 40)}"`,
      /^basic_auth_users.alice: not a bcrypt hash/,
    ],
    [
      "a plain password",
      "basic_auth_users:\n  alice: hunter2",
      /^basic_auth_users.alice: not a bcrypt hash/,
    ],
    [
      "$2x$ prefix",
      `basic_auth_users:\n  alice: "${hash("$2x$")}"`,
      /^basic_auth_users.alice: not a bcrypt hash/,
    ],
    [
      "cost 3",
      `basic_auth_users:\n  alice: "${hash("$2b$").replace("$04$", "$03$")}"`,
      /^basic_auth_users.alice: bcrypt cost 3/,
    ],
    [
      "client CA without policy",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_file: ca.pem",
      /^tls_server_config.client_ca_file: a client CA is configured without a client auth policy/,
    ],
    [
      "client CA with NoClientCert",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_file: ca.pem\n  client_auth_type: NoClientCert",
      /^tls_server_config.client_ca_file/,
    ],
    [
      "unknown client_auth_type",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: Yes",
      /^tls_server_config.client_auth_type: expected one of/,
    ],
    [
      "key without cert",
      "tls_server_config:\n  key_file: k.pem",
      /^tls_server_config.cert_file: missing/,
    ],
    [
      "cert without key",
      "tls_server_config:\n  cert_file: c.pem",
      /^tls_server_config.key_file: missing/,
    ],
    [
      "bad min_version",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS1.2",
      /^tls_server_config.min_version: expected one of TLS10/,
    ],
    [
      "min above max",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS13\n  max_version: TLS12",
      /^tls_server_config.min_version: above max_version/,
    ],
    [
      "unknown cipher",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]",
      /^tls_server_config.cipher_suites: unknown cipher suite/,
    ],
    [
      "SANs without required cert",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [a]",
      /^tls_server_config.client_allowed_sans/,
    ],
    [
      "header not allowed",
      "http_server_config:\n  headers:\n    Server: x",
      /^http_server_config.headers.Server: this header cannot be configured/,
    ],
    [
      "header value not allowed",
      "http_server_config:\n  headers:\n    X-Frame-Options: allow",
      /^http_server_config.headers.X-Frame-Options: expected one of deny, sameorigin/,
    ],
    [
      "unknown http_server_config key",
      "http_server_config:\n  http3: true",
      /^http_server_config.http3: unknown key/,
    ],
    [
      "rate_limit interval not a duration",
      "rate_limit:\n  interval: soon\n  burst: 1",
      /^rate_limit.interval/,
    ],
    ["rate_limit burst negative", "rate_limit:\n  interval: 1s\n  burst: -1", /^rate_limit.burst/],
  ])("%s", (_name, text, expected) => {
    expect(problem(text)).toMatch(expected);
  });
});

describe("parseWebConfig: accepted", () => {
  it.each(["$2a$", "$2b$", "$2y$"])("a %s hash", (prefix) => {
    const config = parseWebConfig(`basic_auth_users:\n  alice: "${hash(prefix)}"\n`, "/");
    expect(config.users.get("alice")).toBe(hash(prefix));
  });

  it("an empty file turns nothing on", () => {
    expect(parseWebConfig("", "/")).toEqual({
      tls: undefined,
      headers: {},
      users: new Map(),
      rateLimit: undefined,
    });
  });

  it("TLS: relative paths from the file's directory, the toolkit's defaults, Go names mapped", () => {
    const config = parseWebConfig(
      [
        "tls_server_config:",
        "  cert_file: server.pem",
        "  key_file: /abs/server.key",
        "  client_ca_file: ca.pem",
        "  client_auth_type: RequireClientCert",
        "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]",
        "  curve_preferences: [X25519, CurveP256]",
      ].join("\n"),
      "/etc/rx",
    );
    expect(config.tls).toMatchObject({
      cert: { file: "/etc/rx/server.pem" },
      key: { file: "/abs/server.key" },
      clientCa: { file: "/etc/rx/ca.pem" },
      clientAuth: "RequireAnyClientCert",
      minVersion: "TLSv1.2",
      maxVersion: "TLSv1.3",
      ciphers: ["ECDHE-RSA-AES128-GCM-SHA256"],
      curves: ["X25519", "P-256"],
      preferServerCipherSuites: true,
    });
  });

  it("headers (blank means unset) and rate_limit", () => {
    const config = parseWebConfig(
      [
        "http_server_config:",
        "  http2: false",
        "  headers:",
        "    X-Frame-Options: deny",
        '    Content-Security-Policy: ""',
        "rate_limit:",
        "  interval: 250ms",
        "  burst: 3",
      ].join("\n"),
      "/",
    );
    expect(config.headers).toEqual({ "X-Frame-Options": "deny" });
    expect(config.rateLimit).toEqual({ intervalMs: 250, burst: 3 });
  });
});
