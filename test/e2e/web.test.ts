import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:net";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcrypt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestCerts } from "../helpers/certs.js";
import { canMakeCerts, makeCerts } from "../helpers/certs.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { builtMain, startDaemon } from "../helpers/daemon.js";
import { requireOnCi } from "../helpers/prerequisites.js";
import { waitFor } from "../helpers/expect-soon.js";

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface ClientOptions {
  readonly user?: string;
  readonly password?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly maxVersion?: "TLSv1.2" | "TLSv1.3";
}

/** One HTTPS GET on a fresh connection, trusting the test CA; rejects when TLS refuses. */
function get(
  certs: TestCerts,
  port: number,
  path: string,
  options: ClientOptions = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        ca: readFileSync(certs.ca),
        cert: options.cert ? readFileSync(options.cert) : undefined,
        key: options.key ? readFileSync(options.key) : undefined,
        maxVersion: options.maxVersion,
        agent: false,
        timeout: 5000,
        auth: options.user === undefined ? undefined : `${options.user}:${options.password ?? ""}`,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** The built exporter's exit code, stderr and stdout for a command line that must not start. */
function refused(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [builtMain, "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults", ...args],
      { timeout: 15_000 },
      (error, stdout, stderr) =>
        resolve({ code: typeof error?.code === "number" ? error.code : 0, stderr, stdout }),
    );
  });
}

const eventually = (what: string, check: () => Promise<boolean>, ms = 10_000) =>
  waitFor(what, () => check().catch(() => false), ms);

const certsMissing = canMakeCerts ? undefined : "no /usr/bin/openssl (apt-get install openssl)";

describe.skipIf(requireOnCi(certsMissing))(
  "--web.config.file: TLS, basic auth, headers (needs openssl)",
  () => {
    let dir = "";
    let certs: TestCerts;
    let hashes: Record<string, string> = {};
    let exporter: RunningDaemon;
    let mtls: RunningDaemon;
    const config = () => join(dir, "web.yml");
    const mtlsConfig = () => join(dir, "mtls.yml");

    const tls = (extra = "") =>
      `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS13\n${extra}`;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "rootless-exporter-web-"));
      certs = makeCerts(dir);
      const b = await bcrypt.hash("alice-pw", 6);
      // One user per prefix htpasswd and the libraries write; the same algorithm under each.
      hashes = { a: `$2a$${b.slice(4)}`, b, y: `$2y$${b.slice(4)}` };
      writeFileSync(
        config(),
        `${tls()}http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  alice2a: "${hashes["a"]}"\n  alice2b: "${hashes["b"]}"\n  alice2y: "${hashes["y"]}"\n`,
      );
      writeFileSync(
        mtlsConfig(),
        tls("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"),
      );
      [exporter, mtls] = await Promise.all([
        startDaemon(["--collector.disable-defaults", `--web.config.file=${config()}`]),
        startDaemon(["--collector.disable-defaults", `--web.config.file=${mtlsConfig()}`]),
      ]);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([exporter?.stop(), mtls?.stop()]);
      rmSync(dir, { recursive: true, force: true });
    });

    it.each(["alice2a", "alice2b", "alice2y"])(
      "%s ($2a$/$2b$/$2y$ hash) gets /metrics over TLS with the toolkit's headers",
      async (user) => {
        const answer = await get(certs, exporter.port, "/metrics", { user, password: "alice-pw" });
        expect(answer.status).toBe(200);
        expect(answer.body).toContain("rootless_exporter_build_info");
        expect(answer.headers["x-frame-options"]).toBe("deny");
        expect(answer.headers["x-content-type-options"]).toBe("nosniff");
      },
    );

    it.each([
      ["no credentials", {}, "/metrics"],
      ["a wrong password", { user: "alice2b", password: "nope" }, "/metrics"],
      ["an unknown user", { user: "mallory", password: "alice-pw" }, "/metrics"],
      ["no credentials on /checks", {}, "/checks"],
      ["no credentials on /", {}, "/"],
    ])("401 for %s", async (_name, auth, path) => {
      const answer = await get(certs, exporter.port, path, auth);
      expect(answer.status).toBe(401);
      expect(answer.headers["www-authenticate"]).toMatch(/^Basic/);
      expect(answer.body).not.toContain("rootless_");
    });

    it("/healthz stays open and says only ok", async () => {
      const answer = await get(certs, exporter.port, "/healthz");
      expect(answer.status).toBe(200);
      expect(answer.body).toBe("ok\n");
    });

    it("refuses a client below min_version (TLS 1.2 against TLS13)", async () => {
      await expect(
        get(certs, exporter.port, "/healthz", { maxVersion: "TLSv1.2" }),
      ).rejects.toThrow(/version|alert|handshake|protocol/i);
    });

    it("clients that reset before TLS starts (mid request line) leave the exporter running", async () => {
      for (let i = 0; i < 5; i++)
        await new Promise<void>((resolve) => {
          const socket = connect(exporter.port, "127.0.0.1", () => {
            socket.write("GE");
            setTimeout(() => {
              socket.resetAndDestroy();
              resolve();
            }, 20);
          });
          socket.on("error", () => resolve());
        });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await get(certs, exporter.port, "/healthz")).status).toBe(200);
      expect(exporter.child.exitCode).toBeNull();
    });

    it("plain HTTP gets no metrics", async () => {
      // Go's answer to plain HTTP on a TLS port, from a live exporter: a refused connection (a
      // dead exporter) fails here rather than passing as "no metrics".
      const answer = await fetch(`http://127.0.0.1:${exporter.port}/metrics`);
      const body = await answer.text();
      expect(answer.status).toBe(400);
      expect(body).toContain("Client sent an HTTP request to an HTTPS server.");
      expect(body).not.toContain("rootless_");
      expect(exporter.child.exitCode).toBeNull();
    });

    it("rotates users and headers without a restart; a broken edit keeps the last good file", async () => {
      const carol = await bcrypt.hash("carol-pw", 6);
      writeFileSync(
        config(),
        `${tls()}http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\nbasic_auth_users:\n  carol: "${carol}"\n`,
      );
      await eventually(
        "carol to be let in",
        async () =>
          (await get(certs, exporter.port, "/metrics", { user: "carol", password: "carol-pw" }))
            .status === 200,
      );
      const old = await get(certs, exporter.port, "/metrics", {
        user: "alice2b",
        password: "alice-pw",
      });
      expect(old.status).toBe(401);
      expect(old.headers["x-frame-options"]).toBe("sameorigin");
      writeFileSync(config(), `${tls()}basic_auth_users:\n  carol: "short"\n`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const still = await get(certs, exporter.port, "/metrics", {
        user: "carol",
        password: "carol-pw",
      });
      expect(still.status).toBe(200);
      expect(
        await get(certs, exporter.port, "/metrics", { user: "carol", password: "x" }),
      ).toMatchObject({ status: 401 });
      expect(exporter.logs.some((l) => l.includes("web configuration not reloaded"))).toBe(true);
      expect(exporter.child.exitCode).toBeNull();
    });

    it("RequireAndVerifyClientCert: no certificate and a foreign CA's are refused, the CA's is served", async () => {
      await expect(get(certs, mtls.port, "/metrics")).rejects.toThrow();
      await expect(
        get(certs, mtls.port, "/metrics", { cert: certs.rogueCert, key: certs.rogueKey }),
      ).rejects.toThrow();
      const answer = await get(certs, mtls.port, "/metrics", {
        cert: certs.clientCert,
        key: certs.clientKey,
      });
      expect(answer.status).toBe(200);
    });

    it("a renewed server certificate is served to the next connection without a restart", async () => {
      const before = readFileSync(certs.serverCert, "utf8");
      const renewed = makeCerts(mkdtempSync(join(dir, "renew-")));
      // Signed by a new CA: a client trusting only the old CA now fails, which proves the reload.
      writeFileSync(certs.serverCert, readFileSync(renewed.serverCert));
      writeFileSync(certs.serverKey, readFileSync(renewed.serverKey));
      await expect(
        get(certs, mtls.port, "/metrics", { cert: certs.clientCert, key: certs.clientKey }),
      ).rejects.toThrow(/certificate/i);
      expect(
        (
          await get(renewed, mtls.port, "/metrics", {
            cert: certs.clientCert,
            key: certs.clientKey,
          })
        ).status,
      ).toBe(200);
      expect(before).not.toBe(readFileSync(certs.serverCert, "utf8"));
    });
  },
);

describe.skipIf(!canMakeCerts)(
  "--web.config.file refused at start: exit 2, one line naming the key",
  () => {
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "rootless-exporter-webbad-"));
      makeCerts(dir);
    }, 60_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each([
      ["bad YAML", "basic_auth_users: [", "not valid YAML"],
      ["unknown key", "basic_auth_user:\n  a: b\n", "basic_auth_user: unknown key"],
      [
        "short hash",
        'basic_auth_users:\n  alice: "$2y$10$abc"\n',
        "basic_auth_users.alice: not a bcrypt hash",
      ],
      [
        "client CA without policy",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_ca_file: ca.pem\n",
        "tls_server_config.client_ca_file",
      ],
      [
        "missing certificate file",
        "tls_server_config:\n  cert_file: nope.pem\n  key_file: server.key\n",
        "tls_server_config.cert_file: cannot read",
      ],
      ["the file itself missing", undefined, "cannot read"],
      [
        "a certificate file that is not one, named",
        "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
        "tls_server_config: the certificate (cert_file ",
      ],
      [
        "a key of another certificate",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: client.key\n",
        "tls_server_config: the key does not match the certificate",
      ],
      [
        "a key written twice, with its line",
        "rate_limit:\n  burst: 1\n  burst: 2\n",
        'not valid YAML: line 3: key "burst" appears twice',
      ],
    ])("%s", async (_name, text, expected) => {
      const file = join(dir, `${Math.random()}.yml`);
      if (text !== undefined) writeFileSync(file, text);
      const { code, stderr, stdout } = await refused([`--web.config.file=${file}`]);
      expect(code).toBe(2);
      expect(stderr).toContain(`rootless-exporter: --web.config.file: ${expected}`);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stdout).toBe("");
    });
  },
);
