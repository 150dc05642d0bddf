import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { connect as h2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import type { TLSSocket } from "node:tls";
import { randomBytes } from "node:crypto";
import bcrypt from "bcrypt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canMakeCerts, makeCerts } from "../helpers/certs.js";
import { builtMain, startDaemon } from "../helpers/daemon.js";
import { requireOnCi } from "../helpers/prerequisites.js";

// The exporter-toolkit's own test tables (web/tls_config_test.go: TestYAMLFiles,
// TestServerBehaviour, TestConfigReloading, TestUsers, TestTLSConfigIsEnabled; web/handler_test.go),
// case by case, against the built exporter over real TLS. The files are written here from what
// each case of web/testdata/ holds; the certificates are made with openssl (an EC server
// certificate, and an RSA one for the TLS_ECDHE_RSA_* cipher cases).

interface Client {
  readonly tls?: boolean;
  readonly rsa?: boolean;
  readonly maxVersion?: "TLSv1.1" | "TLSv1.2" | "TLSv1.3";
  readonly ciphers?: string;
  readonly curve?: string;
  /** "ca" (signed by the test CA) or "rogue" (another CA's, as a self-signed one is to the server). */
  readonly cert?: "ca" | "rogue";
  readonly user?: string;
  readonly password?: string;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly cipher?: string;
  readonly alpn?: string | false;
}

type Expected =
  | { readonly refused: RegExp }
  | {
      readonly status: number;
      readonly body?: RegExp;
      readonly cipher?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  | { readonly error: RegExp };

interface Case {
  readonly name: string;
  /** The web config's text; undefined runs without --web.config.file. */
  readonly config?: string;
  readonly client?: Client;
  readonly requests?: number;
  readonly expected: Expected;
}

let dir = "";
let inlineCert = "";
let inlineKey = "";
const tls = (extra: string, cert = "server") =>
  `tls_server_config:\n  cert_file: "${cert}.pem"\n  key_file: "${cert}.key"\n${extra}`;
const indent = (pem: string) =>
  pem
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");

const clientFiles = { ca: "client", rogue: "rogue" } as const;

function get(port: number, client: Client = {}): Promise<Answer> {
  const path = "/metrics";
  const auth = client.user === undefined ? undefined : `${client.user}:${client.password ?? ""}`;
  return new Promise((resolve, reject) => {
    const done = (res: IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        const socket = res.socket as TLSSocket | null;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          cipher: client.tls ? socket?.getCipher?.()?.standardName : undefined,
        });
      });
    };
    const base = { host: "127.0.0.1", port, path, agent: false, timeout: 10_000, auth };
    const req = client.tls
      ? httpsRequest(
          {
            ...base,
            ca: readFileSync(join(dir, "ca.pem")),
            maxVersion: client.maxVersion,
            minVersion: client.maxVersion === "TLSv1.1" ? "TLSv1" : undefined,
            ciphers: client.ciphers,
            ecdhCurve: client.curve,
            cert: client.cert
              ? readFileSync(join(dir, `${clientFiles[client.cert]}.pem`))
              : undefined,
            key: client.cert
              ? readFileSync(join(dir, `${clientFiles[client.cert]}.key`))
              : undefined,
          },
          done,
        )
      : httpRequest(base, done);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** The protocol the server picks for a client that offers h2 and http/1.1, as curl and Go do. */
function alpnOf(port: number): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      {
        host: "127.0.0.1",
        port,
        ca: readFileSync(join(dir, "ca.pem")),
        ALPNProtocols: ["h2", "http/1.1"],
      },
      () => {
        resolve(socket.alpnProtocol);
        socket.destroy();
      },
    );
    socket.on("error", reject);
  });
}

/** The status of one GET over HTTP/2. */
function getH2(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = h2Connect(`https://127.0.0.1:${port}`, {
      ca: readFileSync(join(dir, "ca.pem")),
    });
    session.on("error", reject);
    const stream = session.request({ ":path": "/metrics" });
    stream.on("response", (headers) => {
      stream.resume();
      stream.on("end", () => {
        session.close();
        resolve(Number(headers[":status"]));
      });
    });
    stream.on("error", reject);
    stream.end();
  });
}

/** Without a config text, a file that does not exist. */
function refusedStart(config?: string): Promise<{ code: number | null; stderr: string }> {
  const file = join(
    dir,
    config === undefined ? "somefile" : `${randomBytes(6).toString("hex")}.yml`,
  );
  if (config !== undefined) writeFileSync(file, config);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        builtMain,
        "--web.listen-address=127.0.0.1:0",
        "--collector.disable-defaults",
        `--web.config.file=${file}`,
      ],
      { timeout: 15_000 },
      (error, _stdout, stderr) =>
        resolve({ code: typeof error?.code === "number" ? error.code : 0, stderr }),
    );
  });
}

const ecdheRsa128 = "ECDHE-RSA-AES128-GCM-SHA256";
const ecdheRsa256 = "ECDHE-RSA-AES256-GCM-SHA384";
const noAuthGood = () => tls('  client_auth_type: "VerifyClientCertIfGiven"\n');
const someCiphers = (order: string[], prefer: string) =>
  tls(
    `  client_auth_type: "VerifyClientCertIfGiven"\n  cipher_suites:\n${order.map((c) => `  - ${c}\n`).join("")}${prefer}  min_version: TLS12\n  max_version: TLS12\n`,
    "rsa",
  );
let users = "";

const cases: (() => Case)[] = [
  // TestYAMLFiles: each file refused at start (exit 2) for the toolkit's reason, or served.
  () => ({
    name: "YAML: path to config yml invalid",
    config: undefined,
    expected: { refused: /cannot read .*somefile \(ENOENT\)/ },
  }),
  () => ({ name: "YAML: empty config yml", config: "", expected: { status: 200 } }),
  () => ({
    name: "YAML: invalid structure (junk)",
    config: "hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\nay3RiOtykgt4m6m3KOol\n",
    expected: { refused: /the file: expected a mapping/ },
  }),
  () => ({
    name: "YAML: invalid key",
    config: 'tls_server_config:\n  cert_filse: "server.crt"\n',
    expected: { refused: /tls_server_config\.cert_filse: unknown key/ },
  }),
  () => ({
    name: "YAML: cert path empty",
    config: 'tls_server_config:\n  cert_file: ""\n  key_file: "server.key"\n',
    expected: { refused: /missing one of cert or cert_file/ },
  }),
  () => ({
    name: "YAML: cert empty",
    config: 'tls_server_config:\n  cert: ""\n  key_file: "server.key"\n',
    expected: { refused: /missing one of cert or cert_file/ },
  }),
  () => ({
    name: "YAML: key path empty",
    config: 'tls_server_config:\n  cert_file: "server.pem"\n  key_file: ""\n',
    expected: { refused: /missing one of key or key_file/ },
  }),
  () => ({
    name: "YAML: key empty",
    config: 'tls_server_config:\n  cert_file: "server.pem"\n  key: ""\n',
    expected: { refused: /missing one of key or key_file/ },
  }),
  () => ({
    name: "YAML: cert path and key path empty",
    config: 'tls_server_config:\n  cert_file: ""\n  key_file: ""\n  client_auth_type: "x"\n',
    expected: { refused: /missing one of cert or cert_file/ },
  }),
  () => ({
    name: "YAML: cert path invalid",
    config: 'tls_server_config:\n  cert_file: "somefile"\n  key_file: "server.key"\n',
    expected: { refused: /cert_file: cannot read .*somefile \(ENOENT\)/ },
  }),
  () => ({
    name: "YAML: key path invalid",
    config: 'tls_server_config:\n  cert_file: "server.pem"\n  key_file: "somefile"\n',
    expected: { refused: /key_file: cannot read .*somefile \(ENOENT\)/ },
  }),
  () => ({
    name: "YAML: cert path and key path invalid",
    config: 'tls_server_config:\n  cert_file: "somefile"\n  key_file: "somefile"\n',
    expected: { refused: /cert_file: cannot read .*\(ENOENT\)/ },
  }),
  () => ({
    name: "YAML: client CA without a policy (noAuth.bad.yml)",
    config: tls('  client_ca_file: "/dev/null"\n'),
    expected: { refused: /client CA's have been configured without a Client Auth Policy/ },
  }),
  () => ({
    name: "YAML: client CA file missing (auth_clientCAs_invalid.bad.yml)",
    config: tls('  client_ca_file: "somefile"\n'),
    expected: { refused: /client_ca_file: cannot read .*\(ENOENT\)/ },
  }),
  () => ({
    name: "YAML: invalid user list",
    config: tls("") + "basic_auth_users:\n  john: doe\n",
    expected: { refused: /basic_auth_users\.john: not a bcrypt hash/ },
  }),
  () => ({
    name: "YAML: bad cipher",
    config: tls("  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\n"),
    expected: { refused: /unknown cipher "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048"/ },
  }),
  () => ({
    name: "YAML: bad curves",
    config: tls("  curve_preferences:\n    - CurveP257\n"),
    expected: { refused: /unknown curve "CurveP257"/ },
  }),
  () => ({
    name: "YAML: bad TLS version",
    config: tls("  min_version: TLS111\n"),
    expected: { refused: /unknown TLS version "TLS111"/ },
  }),

  // TestServerBehaviour
  () => ({ name: "server: no config, plain client", expected: { status: 200 } }),
  () => ({
    name: "server: no config, TLS client",
    client: { tls: true },
    expected: { error: /wrong version number|packet length|SSL/i },
  }),
  () => ({
    name: "server: TLS config, plain client gets Go's 400",
    config: noAuthGood(),
    expected: { status: 400, body: /^Client sent an HTTP request to an HTTPS server\.\n$/ },
  }),
  () => ({
    name: "server: TLS config, TLS client",
    config: noAuthGood(),
    client: { tls: true },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: cert and key inline",
    config: `tls_server_config:\n  cert: |\n${indent(inlineCert)}\n  key: |\n${indent(inlineKey)}\n  client_auth_type: "VerifyClientCertIfGiven"\n`,
    client: { tls: true },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: TLS 1.1 client",
    config: noAuthGood(),
    client: { tls: true, maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" },
    expected: { error: /protocol version|unsupported protocol/i },
  }),
  () => ({
    name: "server: all ciphers (TLS 1.3 names too)",
    config: tls(
      `  client_auth_type: "VerifyClientCertIfGiven"\n  cipher_suites:\n${[
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
      ]
        .map((c) => `  - ${c}\n`)
        .join("")}`,
    ),
    client: { tls: true },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: some ciphers, a common one",
    config: someCiphers(
      ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
      "",
    ),
    client: { tls: true, rsa: true, maxVersion: "TLSv1.2", ciphers: ecdheRsa128 },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: some ciphers, none common",
    config: someCiphers(
      ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
      "",
    ),
    client: { tls: true, rsa: true, maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES256-SHA" },
    expected: { error: /handshake failure/i },
  }),
  () => ({
    name: "server: multiple client ciphers, the server's order",
    config: someCiphers(
      ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"],
      "",
    ),
    client: {
      tls: true,
      rsa: true,
      maxVersion: "TLSv1.2",
      ciphers: `${ecdheRsa128}:${ecdheRsa256}`,
    },
    expected: { status: 200, cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
  }),
  () => ({
    name: "server: multiple client ciphers, the client chooses (prefer_server_cipher_suites: false)",
    config: someCiphers(
      ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
      "  prefer_server_cipher_suites: false\n",
    ),
    client: {
      tls: true,
      rsa: true,
      maxVersion: "TLSv1.2",
      ciphers: `${ecdheRsa128}:${ecdheRsa256}`,
    },
    expected: { status: 200, cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
  }),
  () => ({
    name: "server: all curves",
    config: tls(
      '  client_auth_type: "VerifyClientCertIfGiven"\n  curve_preferences:\n    - CurveP256\n    - CurveP384\n    - CurveP521\n    - X25519\n',
    ),
    client: { tls: true },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: some curves, a common one",
    config: tls(
      '  client_auth_type: "VerifyClientCertIfGiven"\n  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n',
    ),
    client: { tls: true, curve: "P-521" },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: some curves, none common",
    config: tls(
      '  client_auth_type: "VerifyClientCertIfGiven"\n  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n',
    ),
    client: { tls: true, curve: "P-384" },
    expected: { error: /handshake failure/i },
  }),
  () => ({
    name: "server: non-HTTP/2 ciphers with http2 off",
    config:
      tls(
        '  client_auth_type: "VerifyClientCertIfGiven"\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n',
        "rsa",
      ) + "http_server_config:\n  http2: false\n",
    client: { tls: true, rsa: true },
    expected: { status: 200, cipher: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
  }),
  () => ({
    name: "server: non-HTTP/2 ciphers with http2 on (noHTTP2Cipher.bad.yml)",
    config: tls(
      '  client_auth_type: "VerifyClientCertIfGiven"\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n',
      "rsa",
    ),
    expected: { refused: /cipher_suites: HTTP\/2 needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256/ },
  }),
  () => ({
    name: "server: headers.good.yml (and handler_test TestHTTPHeaders)",
    config:
      "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 1\n    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n",
    expected: {
      status: 200,
      headers: {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Frame-Options": "deny",
        "X-Content-Type-Options": "nosniff",
        "X-XSS-Protection": "1",
        "Content-Security-Policy": "default-src 'self' *.test.example.net",
      },
    },
  }),
  () => ({
    name: "server: X-Content-Type-Options: sniff",
    config: "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
    expected: { refused: /X-Content-Type-Options: invalid value/ },
  }),
  () => ({
    name: "server: X-Frame-Options: foo",
    config: "http_server_config:\n  headers:\n    X-Frame-Options: foo\n",
    expected: { refused: /X-Frame-Options: invalid value/ },
  }),
  () => ({
    name: "server: a header that cannot be set",
    config: "http_server_config:\n  headers:\n    Content-Type: foo\n",
    expected: { refused: /HTTP header "Content-Type" can not be configured/ },
  }),
  () => ({
    name: "server: RequireAnyClientCert, a certificate of an unknown CA",
    config: tls('  client_auth_type: "RequireAnyClientCert"\n'),
    client: { tls: true, cert: "rogue" },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: RequireAnyClientCert, cert from file and key inline",
    config: `tls_server_config:\n  cert_file: "server.pem"\n  key: |\n${indent(inlineKey)}\n  client_auth_type: "RequireAnyClientCert"\n`,
    client: { tls: true, cert: "rogue" },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: RequireAndVerifyClientCert, the CA's certificate",
    config: tls('  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "ca.pem"\n'),
    client: { tls: true, cert: "ca" },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: client_allowed_sans that hold the certificate's SAN",
    config: tls(
      '  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "ca.pem"\n  client_allowed_sans:\n    - "one"\n    - "prometheus"\n    - "two"\n',
    ),
    client: { tls: true, cert: "ca" },
    expected: { status: 200 },
  }),
  () => ({
    name: "server: client_allowed_sans without it (connection closed: see docs/web-config.md)",
    config: tls(
      '  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "ca.pem"\n  client_allowed_sans:\n    - "bad"\n',
    ),
    client: { tls: true, cert: "ca" },
    expected: { error: /socket hang up|ECONNRESET|EPIPE/ },
  }),
  () => ({
    name: "server: rate limiter off (interval 0), 11 requests",
    config: "rate_limit:\n  interval: 0\n  burst: 0\n",
    requests: 11,
    expected: { status: 200 },
  }),
  () => ({
    name: "server: rate limiter of one second, burst 0",
    config: 'rate_limit:\n  interval: "1s"\n  burst: 0\n',
    expected: { status: 429 },
  }),

  // TestUsers, over plain HTTP and over TLS
  () => ({ name: "users: no credentials", config: users, expected: { status: 401 } }),
  () => ({
    name: "users: right credentials",
    config: users,
    client: { user: "dave", password: "dave123" },
    expected: { status: 200 },
  }),
  () => ({
    name: "users: TLS, no credentials",
    config: tls("") + users,
    client: { tls: true },
    expected: { status: 401 },
  }),
  () => ({
    name: "users: TLS, right credentials",
    config: tls("") + users,
    client: { tls: true, user: "dave", password: "dave123" },
    expected: { status: 200 },
  }),
  () => ({
    name: "users: TLS, another user",
    config: tls("") + users,
    client: { tls: true, user: "carol", password: "carol123" },
    expected: { status: 200 },
  }),
  () => ({
    name: "users: TLS, bad password",
    config: tls("") + users,
    client: { tls: true, user: "dave", password: "bad" },
    expected: { status: 401 },
  }),
  () => ({
    name: "users: TLS, bad username",
    config: tls("") + users,
    client: { tls: true, user: "nonexistent", password: "nonexistent" },
    expected: { status: 401 },
  }),

  // TestTLSConfigIsEnabled, as seen from outside: which keys turn TLS on
  () => ({
    name: "IsEnabled: only min_version and prefer_server_cipher_suites: plain HTTP",
    config: "tls_server_config:\n  min_version: TLS12\n  prefer_server_cipher_suites: true\n",
    expected: { status: 200 },
  }),
  () => ({
    name: "IsEnabled: only client_ca_file: TLS, so a certificate is missing",
    config: 'tls_server_config:\n  client_ca_file: "ca.pem"\n',
    expected: { refused: /missing one of cert or cert_file/ },
  }),
  () => ({
    name: "IsEnabled: only client_auth_type: TLS, so a certificate is missing",
    config: 'tls_server_config:\n  client_auth_type: "RequireAndVerifyClientCert"\n',
    expected: { refused: /missing one of cert or cert_file/ },
  }),
];

async function run(c: Case): Promise<void> {
  const expected = c.expected;
  if ("refused" in expected) {
    const { code, stderr } = await refusedStart(c.config);
    expect(code).toBe(2);
    expect(stderr).toMatch(expected.refused);
    return;
  }
  let args = ["--collector.disable-defaults"];
  if (c.config !== undefined) {
    const file = join(dir, `${randomBytes(6).toString("hex")}.yml`);
    writeFileSync(file, c.config);
    args = [...args, `--web.config.file=${file}`];
  }
  const daemon = await startDaemon(args);
  try {
    for (let i = 0; i < (c.requests ?? 1); i++) {
      if ("error" in expected) {
        await expect(get(daemon.port, c.client)).rejects.toThrow(expected.error);
        continue;
      }
      const answer = await get(daemon.port, c.client);
      expect(answer.status).toBe(expected.status);
      if (expected.body) expect(answer.body).toMatch(expected.body);
      if (expected.cipher) expect(answer.cipher).toBe(expected.cipher);
      for (const [name, value] of Object.entries(expected.headers ?? {}))
        expect(answer.headers[name.toLowerCase()]).toBe(value);
    }
  } finally {
    await daemon.stop();
  }
}

const certsMissing = canMakeCerts ? undefined : "no /usr/bin/openssl (apt-get install openssl)";

describe.skipIf(requireOnCi(certsMissing))(
  "the exporter-toolkit's test tables, against the built exporter",
  () => {
    let slowHash = "";
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "rootless-exporter-toolkit-"));
      makeCerts(dir);
      // An RSA server certificate from the same CA, for the TLS_ECDHE_RSA_* cases.
      const openssl = (args: string[]) =>
        execFileSync("/usr/bin/openssl", args, { cwd: dir, stdio: "ignore", timeout: 30_000 });
      writeFileSync(join(dir, "rsa.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
      openssl([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "rsa.key",
        "-out",
        "rsa.csr",
        "-subj",
        "/CN=localhost",
      ]);
      openssl([
        "x509",
        "-req",
        "-in",
        "rsa.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "rsa.pem",
        "-days",
        "2",
        "-extfile",
        "rsa.ext",
      ]);
      inlineCert = readFileSync(join(dir, "server.pem"), "utf8");
      inlineKey = readFileSync(join(dir, "server.key"), "utf8");
      // As web_config_users.good.yml: alice cost 12, bob a stale cost 18 (a well-formed hash no
      // password matches: making a real one takes half a minute), carol and dave cost 10.
      const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
      slowHash = `$2b$18$${Array.from(randomBytes(53), (b) => alphabet[b % 64]).join("")}`;
      const [alice, carol, dave] = await Promise.all([
        bcrypt.hash("alice123", 12),
        bcrypt.hash("carol123", 10),
        bcrypt.hash("dave123", 10),
      ]);
      users = `basic_auth_users:\n  alice: ${alice}\n  bob: ${slowHash}\n  carol: ${carol}\n  dave: ${dave}\n`;
      writeFileSync(join(dir, "users.yml"), users);
      writeFileSync(join(dir, "users-tls.yml"), tls("") + users);
    }, 60_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // Named at collection, made once the certificates and hashes exist.
    it.each(cases.map((make) => [make().name, make] as const))(
      "%s",
      async (_name, make) => {
        await run(make());
      },
      30_000,
    );

    const basic = (port: number, user: string, password: string, secure = false) =>
      get(port, { tls: secure, user, password });

    it("TestConfigReloading: a refused client gets in once the file allows it, without a restart", async () => {
      const file = join(dir, "reload.yml");
      writeFileSync(file, tls('  client_auth_type: "RequireAndVerifyClientCert"\n'));
      const daemon = await startDaemon([
        "--collector.disable-defaults",
        `--web.config.file=${file}`,
      ]);
      try {
        await expect(get(daemon.port, { tls: true })).rejects.toThrow();
        writeFileSync(file, noAuthGood());
        const deadline = Date.now() + 10_000;
        let status = 0;
        while (Date.now() < deadline && status !== 200) {
          status = await get(daemon.port, { tls: true }).then(
            (a) => a.status,
            () => 0,
          );
          if (status !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        expect(status).toBe(200);
      } finally {
        await daemon.stop();
      }
    }, 30_000);

    it("TestUsers with the stale cost-18 user: an unknown user and a cold login answer at once while bob's bcrypt runs", async () => {
      const daemon = await startDaemon([
        "--collector.disable-defaults",
        `--web.config.file=${join(dir, "users.yml")}`,
      ]);
      try {
        const bob = basic(daemon.port, "bob", "bob123").catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
        const started = Date.now();
        expect((await basic(daemon.port, "nonexistent", "nonexistent")).status).toBe(401);
        expect((await basic(daemon.port, "dave", "dave123")).status).toBe(200);
        // Each is one cost-10 bcrypt (some 80 ms here); behind bob's they took 15 s and more.
        expect(Date.now() - started).toBeLessThan(5000);
        void bob;
      } finally {
        await daemon.stop();
      }
    }, 30_000);

    it("handler_test TestBasicAuthCache: 150 right and 150 wrong logins at once get 200 and 401", async () => {
      const daemon = await startDaemon([
        "--collector.disable-defaults",
        `--web.config.file=${join(dir, "users.yml")}`,
      ]);
      try {
        expect((await basic(daemon.port, "alice", "alice123")).status).toBe(200);
        expect((await basic(daemon.port, "alice", "alice1234")).status).toBe(401);
        const answers = await Promise.all(
          Array.from({ length: 150 }, () => [
            basic(daemon.port, "alice", "alice123").then((a) => a.status),
            basic(daemon.port, "alice", "alice1234").then((a) => a.status),
          ]).flat(),
        );
        expect(answers.filter((s) => s === 200)).toHaveLength(150);
        expect(answers.filter((s) => s === 401)).toHaveLength(150);
      } finally {
        await daemon.stop();
      }
    }, 60_000);

    it("150 wrong logins at once on a cold cache, over TLS: all 401, none 503", async () => {
      const daemon = await startDaemon([
        "--collector.disable-defaults",
        `--web.config.file=${join(dir, "users-tls.yml")}`,
      ]);
      try {
        const answers = await Promise.all(
          Array.from({ length: 150 }, () =>
            basic(daemon.port, "dave", "wrong", true).then((a) => a.status),
          ),
        );
        expect(answers).toEqual(Array(150).fill(401));
      } finally {
        await daemon.stop();
      }
    }, 60_000);

    it("handler_test TestBasicAuthWithFakepassword and TestByPassBasicAuthVuln (CVE-2022-46146)", async () => {
      const daemon = await startDaemon([
        "--collector.disable-defaults",
        `--web.config.file=${join(dir, "users.yml")}`,
      ]);
      try {
        expect((await basic(daemon.port, "fakeuser", "fakepassword")).status).toBe(401);
        expect((await basic(daemon.port, "fakeuser", "fakepassword")).status).toBe(401);
        const aliceHash = /alice: (\S+)/.exec(users)?.[1] ?? "";
        // Poison the cache with a user named after alice's hash, then try it as her password.
        expect((await basic(daemon.port, `alice${aliceHash}`, "fakepassword")).status).toBe(401);
        expect((await basic(daemon.port, "alice", `${aliceHash}fakepassword`)).status).toBe(401);
        expect((await basic(daemon.port, "alice", "alice123")).status).toBe(200);
      } finally {
        await daemon.stop();
      }
    }, 30_000);

    it("refused client certificates are logged at info with the reason", async () => {
      const verify = join(dir, "verify.yml");
      const sans = join(dir, "sans.yml");
      writeFileSync(
        verify,
        tls('  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "ca.pem"\n'),
      );
      writeFileSync(
        sans,
        tls(
          '  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "ca.pem"\n  client_allowed_sans: ["bad"]\n',
        ),
      );
      const [a, b] = await Promise.all([
        startDaemon(["--collector.disable-defaults", `--web.config.file=${verify}`]),
        startDaemon(["--collector.disable-defaults", `--web.config.file=${sans}`]),
      ]);
      try {
        await expect(get(a.port, { tls: true, cert: "rogue" })).rejects.toThrow();
        await expect(get(b.port, { tls: true, cert: "ca" })).rejects.toThrow();
        await new Promise((r) => setTimeout(r, 200));
        const refusal = (logs: string[]) =>
          logs
            .map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string })
            .find((l) => l.msg === "TLS client certificate refused");
        expect(refusal(a.logs)).toMatchObject({
          level: 30,
          reason: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        });
        expect(refusal(b.logs)).toMatchObject({
          level: 30,
          reason: expect.stringMatching(/client_allowed_sans/),
        });
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    }, 30_000);

    it("HTTP/2 over TLS by default (ALPN h2), HTTP/1.1 still served; http2: no turns h2 off", async () => {
      const on = join(dir, "h2-on.yml");
      const off = join(dir, "h2-off.yml");
      writeFileSync(on, noAuthGood());
      writeFileSync(off, `${noAuthGood()}http_server_config:\n  http2: no\n`);
      const [a, b] = await Promise.all([
        startDaemon(["--collector.disable-defaults", `--web.config.file=${on}`]),
        startDaemon(["--collector.disable-defaults", `--web.config.file=${off}`]),
      ]);
      try {
        expect(await alpnOf(a.port)).toBe("h2");
        expect(await getH2(a.port)).toBe(200);
        expect((await get(a.port, { tls: true })).status).toBe(200);
        expect(await alpnOf(b.port)).toBe("http/1.1");
        expect((await get(b.port, { tls: true })).status).toBe(200);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    }, 30_000);
  },
);
