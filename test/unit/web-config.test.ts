import { describe, expect, it } from "vitest";
import { WebConfigError, parseWebConfig } from "../../src/exporter/http/web-config.js";

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
    [
      "duplicate key, named with its line",
      "rate_limit: {}\nrate_limit: {}",
      /^not valid YAML: line 2: key "rate_limit" appears twice/,
    ],
    [
      "duplicate nested key",
      "basic_auth_users:\n  a: x\n  a: y",
      /^not valid YAML: line 3: key "a" appears twice/,
    ],
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
      "unknown client_auth_type",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: Yes",
      /^tls_server_config.client_auth_type: invalid ClientAuth "Yes"/,
    ],
    [
      "key without cert",
      "tls_server_config:\n  key_file: k.pem",
      /^tls_server_config: missing one of cert or cert_file/,
    ],
    [
      "cert without key",
      "tls_server_config:\n  cert_file: c.pem",
      /^tls_server_config: missing one of key or key_file/,
    ],
    [
      "bad min_version",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS1.2",
      /^tls_server_config.min_version: unknown TLS version "TLS1.2"/,
    ],
    [
      "min above max",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS13\n  max_version: TLS12",
      /^tls_server_config.min_version: above max_version/,
    ],
    [
      "unknown cipher",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]",
      /^tls_server_config.cipher_suites: unknown cipher "TLS_RSA_WITH_RC4_128_SHA"/,
    ],
    [
      "SANs without required cert",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [a]",
      /^tls_server_config.client_allowed_sans/,
    ],
    [
      "header not allowed",
      "http_server_config:\n  headers:\n    Server: x",
      /^http_server_config.headers.Server: HTTP header "Server" can not be configured/,
    ],
    [
      "header value not allowed",
      "http_server_config:\n  headers:\n    X-Frame-Options: allow",
      /^http_server_config.headers.X-Frame-Options: invalid value, expected one of deny, sameorigin/,
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
    [
      "rate_limit burst not a number",
      "rate_limit:\n  interval: 1s\n  burst: lots",
      /^rate_limit.burst/,
    ],
    [
      "a header named like an object's property",
      "http_server_config:\n  headers:\n    toString: x",
      /^http_server_config.headers.toString: HTTP header "toString" can not be configured/,
    ],
    [
      "a TLS version named like an object's property",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: constructor",
      /^tls_server_config.min_version: unknown TLS version/,
    ],
    [
      "the toolkit's noAuth_noHTTP2Cipher.bad.yml: a TLS 1.2 list HTTP/2 cannot use",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12",
      /^tls_server_config.cipher_suites: HTTP\/2 needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256/,
    ],
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
      http2: true,
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

  it("what yaml.v2 reads (the toolkit's headers.good.yml, allCiphers.good.yml, YAML 1.1 booleans, Go durations)", () => {
    const config = parseWebConfig(
      [
        "tls_server_config:",
        "  cert_file: c.pem",
        "  cert: ignored, the file wins as in the toolkit",
        "  key_file: k.pem",
        "  prefer_server_cipher_suites: no",
        "  cipher_suites:",
        "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "  - TLS_AES_128_GCM_SHA256",
        "  - TLS_AES_256_GCM_SHA384",
        "  - TLS_CHACHA20_POLY1305_SHA256",
        "http_server_config:",
        "  http2: yes",
        "  headers:",
        "    X-Frame-Options: deny",
        "    Strict-Transport-Security: max-age=31536000; includeSubDomains",
        "    X-XSS-Protection: 1",
        "rate_limit:",
        "  interval: 1.5s",
        "  burst: 0x10",
      ].join("\n"),
      "/etc/rx",
    );
    expect(config.tls).toMatchObject({
      cert: { file: "/etc/rx/c.pem" },
      ciphers: ["ECDHE-RSA-AES128-GCM-SHA256"],
      preferServerCipherSuites: false,
    });
    expect(config.http2).toBe(true);
    expect(config.headers).toEqual({
      "X-Frame-Options": "deny",
      "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
      "X-XSS-Protection": "1",
    });
    expect(config.rateLimit).toEqual({ intervalMs: 1500, burst: 16 });
  });

  it.each([
    ["http2: off", "http_server_config:\n  http2: off", { http2: false }],
    [
      "a bare interval is nanoseconds",
      "rate_limit:\n  interval: 2000000",
      { rateLimit: { intervalMs: 2, burst: 0 } },
    ],
    [
      "interval 1h0.5m",
      "rate_limit:\n  interval: 1h0.5m\n  burst: 2",
      { rateLimit: { intervalMs: 3_630_000, burst: 2 } },
    ],
    ["a negative interval is no limit", "rate_limit:\n  interval: -1s", { rateLimit: undefined }],
    [
      "noHTTP2.good.yml: that list with http2 off",
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  max_version: TLS12\nhttp_server_config:\n  http2: false",
      { http2: false },
    ],
  ])("%s", (_name, text, expected) => {
    expect(parseWebConfig(text, "/")).toMatchObject(expected);
  });
});
