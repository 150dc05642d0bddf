import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import bcrypt from "bcrypt";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { BodyFeed } from "../../src/exporter/http/body-feed.js";
import { ExporterServer, ListenError } from "../../src/exporter/http/server.js";
import type { MainPages, WorkerSettings } from "../../src/exporter/http/serving-thread.js";
import { ServingThread } from "../../src/exporter/http/serving-thread.js";
import { canMakeCerts, makeCerts } from "../helpers/certs.js";
import type { TestCerts } from "../helpers/certs.js";
import { waitFor } from "../helpers/expect-soon.js";

// The worker runs the built module (a worker thread cannot load the TypeScript sources).
const entry = new URL("../../dist/exporter/http/serve-worker.js", import.meta.url);
const log = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const pages: MainPages = {
  landing: () => "<html>landing</html>",
  checks: (lang) => JSON.stringify({ lang }),
  scraped: () => undefined,
};

async function startThread(
  extra: Partial<WorkerSettings> = {},
  main: MainPages = pages,
): Promise<{ thread: ServingThread; port: number }> {
  const thread = new ServingThread(
    main,
    log,
    {
      listen: { host: "127.0.0.1", port: 0 },
      telemetryPath: "/metrics",
      contentType: "text/plain; version=0.0.4",
      maxConnections: 16,
      maxRequests: 8,
      webConfigFile: undefined,
      logLevel: "silent",
      ...extra,
    },
    entry,
  );
  const { port } = await thread.start();
  cleanups.push(() => thread.stop());
  return { thread, port };
}

/**
 * A GET from another process while this thread is blocked in spawnSync: what it printed (the
 * status and the body's sha256), or "" when it got nothing within `ms`.
 */
function scrapeWhileBlocked(port: number, ms: number): string {
  const script = `
    const { createHash } = require("node:crypto");
    require("node:http").get({ host: "127.0.0.1", port: ${port}, path: "/metrics" }, (res) => {
      const hash = createHash("sha256");
      res.on("data", (c) => hash.update(c));
      res.on("end", () => process.stdout.write(res.statusCode + " " + hash.digest("hex")));
    });`;
  const run = spawnSync(process.execPath, ["-e", script], { timeout: ms, encoding: "utf8" });
  return run.stdout;
}

const sha256 = async (data: Buffer) =>
  Buffer.from(await crypto.subtle.digest("SHA-256", data)).toString("hex");

function parts(total: number, count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const part = Buffer.alloc(Math.floor(total / count));
    for (let j = 0; j < part.length; j++) part[j] = 0x61 + ((i * 7 + j) % 26);
    out.push(part);
  }
  return out;
}

describe("ServingThread", () => {
  beforeAll(() => {
    const built = statSync(fileURLToPath(entry)).mtimeMs;
    const source = statSync(new URL("../../src/exporter/http/serve-worker.ts", import.meta.url));
    if (built < source.mtimeMs) throw new Error("dist/ is older than src/: run npm run build");
  });

  it("answers /metrics while the main thread is blocked; a main-thread server does not", async () => {
    const body = parts(300_000, 3);
    const { thread, port } = await startThread();
    thread.publish("text/plain; version=0.0.4", body);
    await waitFor(
      "the first body",
      async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok,
    );
    expect(scrapeWhileBlocked(port, 10_000)).toBe(`200 ${await sha256(Buffer.concat(body))}`);

    // The control: the same scrape of the server on this thread waits for the thread, in vain.
    const server = new ExporterServer(
      {
        telemetryPath: "/metrics",
        metrics: () => ({ contentType: "text/plain", body }),
        landing: () => "",
        checks: () => "{}",
      },
      log,
      { maxConnections: 16, maxRequests: 8 },
    );
    const { port: mainPort } = await server.start({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => server.stop());
    expect(scrapeWhileBlocked(mainPort, 1500)).toBe("");
  });

  it("serves the published bytes, each new body once published, HEAD its length", async () => {
    const { thread, port } = await startThread();
    // A scrape before the first body waits for it.
    const first = fetch(`http://127.0.0.1:${port}/metrics`);
    const body = parts(2_000_000, 5);
    thread.publish("text/plain; version=0.0.4", body);
    const answer = await first;
    expect(answer.headers.get("content-type")).toBe("text/plain; version=0.0.4");
    expect(Buffer.from(await answer.arrayBuffer()).equals(Buffer.concat(body))).toBe(true);
    const next = [Buffer.from("next 1\n")];
    thread.publish("text/plain; version=0.0.4", next);
    await waitFor("the next body", async () => {
      return (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()) === "next 1\n";
    });
    const head = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe("7");
    expect(await head.text()).toBe("");
  });

  it("stops vouching for a main thread that has not been heard from: 503, then 200 again", async () => {
    const { thread, port } = await startThread({ aliveWithinMs: 600 });
    thread.publish("text/plain", [Buffer.from("m 1\n")]);
    await waitFor("the body", async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok);
    // This thread blocked for 1.2 s while another process asks.
    const script = `setTimeout(async () => {
      const a = await fetch("http://127.0.0.1:${port}/healthz");
      const b = await fetch("http://127.0.0.1:${port}/metrics");
      process.stdout.write(a.status + " " + b.status + " " + (await b.text()));
    }, 1200);`;
    const run = spawnSync(process.execPath, ["-e", script], { timeout: 10_000, encoding: "utf8" });
    expect(run.stdout).toMatch(/^503 503 the exporter's main thread has not answered for \d+ s\n$/);
    await waitFor("200 again", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toBe("m 1\n");
  });

  it("a body still being written to a slow client is not overwritten by the next ones", async () => {
    const { thread, port } = await startThread();
    const big = parts(16 * 1024 * 1024, 4);
    thread.publish("text/plain", big);
    await waitFor("the body", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    // A client that reads nothing for a while: the answer stays in the worker's write queue.
    const chunks: Buffer[] = [];
    const slow: Socket = connect(port, "127.0.0.1");
    cleanups.push(() => slow.destroy());
    slow.pause();
    slow.write("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Two more bodies of the same size: a buffer given back too early would be reused for them.
    thread.publish("text/plain", parts(16 * 1024 * 1024, 2).reverse());
    await new Promise((resolve) => setTimeout(resolve, 100));
    thread.publish("text/plain", parts(16 * 1024 * 1024, 8));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ended = new Promise((resolve) => slow.once("end", resolve));
    slow.on("data", (chunk: Buffer) => chunks.push(chunk));
    slow.resume();
    await ended;
    const text = Buffer.concat(chunks);
    const bodyAt = text.indexOf("\r\n\r\n") + 4;
    expect(text.subarray(bodyAt).equals(Buffer.concat(big))).toBe(true);
  });

  it("asks / and /checks of the main thread; a failing page is a 500", async () => {
    let fail = false;
    const { thread, port } = await startThread(
      {},
      {
        ...pages,
        checks: (lang) => {
          if (fail) throw new Error("boom");
          return JSON.stringify({ lang });
        },
      },
    );
    thread.publish("text/plain", [Buffer.from("m 1\n")]);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("<html>landing</html>");
    const checks = await fetch(`http://127.0.0.1:${port}/checks?lang=zh-CN`);
    expect(JSON.parse(await checks.text())).toEqual({ lang: "zh-CN" });
    fail = true;
    expect((await fetch(`http://127.0.0.1:${port}/checks`)).status).toBe(500);
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
  });

  it("a taken port is a ListenError; stop() closes the port and ends the worker", async () => {
    const { port } = await startThread();
    const taken = new ServingThread(
      pages,
      log,
      {
        listen: { host: "127.0.0.1", port },
        telemetryPath: "/metrics",
        contentType: "text/plain",
        maxConnections: 4,
        maxRequests: 4,
        webConfigFile: undefined,
        logLevel: "silent",
      },
      entry,
    );
    await expect(taken.start()).rejects.toBeInstanceOf(ListenError);
    await taken.stop();

    const { thread, port: open } = await startThread();
    thread.publish("text/plain", [Buffer.from("m 1\n")]);
    // An idle keep-alive connection does not hold the stop up.
    const idle = connect(open, "127.0.0.1");
    idle.on("error", () => undefined);
    cleanups.push(() => idle.destroy());
    await new Promise((resolve) => idle.once("connect", resolve));
    const started = Date.now();
    await thread.stop();
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(fetch(`http://127.0.0.1:${open}/healthz`)).rejects.toThrow();
  });
});

const certsMissing = canMakeCerts ? undefined : "no /usr/bin/openssl";
describe.skipIf(certsMissing)("ServingThread with a web config (TLS, basic auth)", () => {
  let dir = "";
  let certs: TestCerts;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "rootless-exporter-thread-"));
    certs = makeCerts(dir);
    const hash = await bcrypt.hash("alice-pw", 4);
    writeFileSync(
      join(dir, "web.yml"),
      `tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  alice: "${hash}"\n`,
    );
    return () => rmSync(dir, { recursive: true, force: true });
  });

  const get = (port: number, path: string, auth?: string, client?: "client" | "rogue") =>
    new Promise<{ status: number; body: string; frame: unknown }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path,
          ca: readFileSync(certs.ca),
          agent: false,
          auth,
          cert: client && readFileSync(client === "client" ? certs.clientCert : certs.rogueCert),
          key: client && readFileSync(client === "client" ? certs.clientKey : certs.rogueKey),
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body, frame: res.headers["x-frame-options"] }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });

  it("enforces TLS and basic auth as on the main thread", async () => {
    const { thread, port } = await startThread({ webConfigFile: join(dir, "web.yml") });
    thread.publish("text/plain", [Buffer.from("secret_metric 1\n")]);
    expect(await get(port, "/metrics")).toMatchObject({ status: 401, frame: "deny" });
    expect((await get(port, "/metrics", "alice:wrong")).status).toBe(401);
    expect((await get(port, "/", "alice:wrong")).status).toBe(401);
    expect(await get(port, "/metrics", "alice:alice-pw")).toEqual({
      status: 200,
      body: "secret_metric 1\n",
      frame: "deny",
    });
    // /healthz needs no credentials; plain HTTP on the TLS port gets Go's 400.
    expect((await get(port, "/healthz")).body).toBe("ok\n");
    const plain = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.status,
      () => 0,
    );
    expect(plain).toBe(400);
  });

  it("reads a rotated password and a client-certificate requirement in the worker", async () => {
    const file = join(dir, "rotate.yml");
    const tls = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    writeFileSync(file, `${tls}basic_auth_users:\n  alice: "${await bcrypt.hash("one", 4)}"\n`);
    const { thread, port } = await startThread({ webConfigFile: file });
    thread.publish("text/plain", [Buffer.from("m 1\n")]);
    expect((await get(port, "/metrics", "alice:one")).status).toBe(200);
    writeFileSync(file, `${tls}basic_auth_users:\n  alice: "${await bcrypt.hash("two", 4)}"\n`);
    await waitFor("the rotated password", async () => {
      return (await get(port, "/metrics", "alice:two")).status === 200;
    });
    expect((await get(port, "/metrics", "alice:one")).status).toBe(401);

    const mtls = join(dir, "mtls.yml");
    writeFileSync(
      mtls,
      `${tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n`,
    );
    const { thread: strict, port: strictPort } = await startThread({ webConfigFile: mtls });
    strict.publish("text/plain", [Buffer.from("m 2\n")]);
    expect((await get(strictPort, "/metrics", undefined, "client")).body).toBe("m 2\n");
    await expect(get(strictPort, "/metrics")).rejects.toThrow();
    await expect(get(strictPort, "/metrics", undefined, "rogue")).rejects.toThrow();
  });
});

describe("BodyFeed", () => {
  it("publishes each new body once, and stops looking when the window is over", async () => {
    let body: readonly Buffer[] = [Buffer.from("a")];
    let looks = 0;
    const published: (readonly Buffer[])[] = [];
    const feed = new BodyFeed(
      () => {
        looks++;
        return body;
      },
      (parts) => {
        if (published.at(-1) !== parts) published.push(parts);
      },
      5,
    );
    cleanups.push(() => feed.stop());
    feed.watch(100);
    body = [Buffer.from("b")];
    await waitFor("the new body", () => Promise.resolve(published.length === 2));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = looks;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(looks).toBe(after);
    expect(published.map((p) => p[0]?.toString())).toEqual(["a", "b"]);
  });
});
