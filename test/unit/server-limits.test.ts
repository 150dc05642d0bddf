import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Routes } from "../../src/exporter/http/server.js";
import { ExporterServer } from "../../src/exporter/http/server.js";
import { WebConfigSource } from "../../src/exporter/http/web-config-source.js";
import { waitFor } from "../helpers/expect-soon.js";

const log = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function routes(metrics: Routes["metrics"]): Routes {
  return { telemetryPath: "/metrics", metrics, landing: () => "landing", checks: () => "{}" };
}

async function serve(
  options: ConstructorParameters<typeof ExporterServer>[2],
  metrics: Routes["metrics"] = () => ({ contentType: "text/plain", body: Buffer.from("m 1\n") }),
) {
  const server = new ExporterServer(routes(metrics), log, options);
  const { port } = await server.start({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => server.stop());
  return { server, port };
}

function status(port: number, path = "/metrics"): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

function idle(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", () => undefined);
    socket.resume();
    cleanups.push(() => socket.destroy());
  });
}

describe("ExporterServer limits", () => {
  it("past --web.max-connections a new client closes the oldest idle connection", async () => {
    const { server, port } = await serve({ maxConnections: 4, maxRequests: 40 });
    const sockets: Socket[] = [];
    for (let i = 0; i < 10; i++) {
      const socket = await idle(port);
      socket.write("GET /metrics HTTP/1.1\r\nHo"); // headers never finished
      sockets.push(socket);
    }
    await waitFor(
      "the server down to 4 connections, 6 closed",
      () => server.openConnections <= 4 && sockets.filter((s) => s.destroyed).length >= 6,
      2000,
      { everyMs: 10, seen: () => `${server.openConnections} open on the server` },
    );
    expect(server.openConnections).toBeLessThanOrEqual(4);
    // The six oldest were closed by the server; the four newest are still open.
    expect(sockets.map((s) => s.destroyed)).toEqual([
      ...Array(6).fill(true),
      ...Array(4).fill(false),
    ]);
    expect(await status(port)).toBe(200);
  });

  it("past --web.max-requests: 503 while the others are being answered", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<Buffer>((resolve) => (release = () => resolve(Buffer.from("m 1\n"))));
    let answering = 0;
    const { port } = await serve({ maxConnections: 100, maxRequests: 2 }, () => {
      answering++;
      return { contentType: "text/plain", body: held };
    });
    const slow = [status(port), status(port)];
    await waitFor("two requests being answered", () => answering === 2, 2000, { everyMs: 10 });
    expect(await status(port)).toBe(503);
    expect(await status(port, "/healthz")).toBe(200); // costs nothing, stays answered
    release();
    expect(await Promise.all(slow)).toEqual([200, 200]);
    expect(await status(port)).toBe(200);
  });

  it("rate_limit: a burst, then 429 until a token comes back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rate-limit-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "web.yml"), "rate_limit:\n  interval: 500ms\n  burst: 2\n");
    const webConfig = new WebConfigSource(join(dir, "web.yml"), log);
    const { port } = await serve({ maxConnections: 100, maxRequests: 40, webConfig });
    expect([await status(port), await status(port), await status(port)]).toEqual([200, 200, 429]);
    // A token comes back after the interval, not before: 429 until then.
    const limited = performance.now();
    await waitFor("a token back", async () => (await status(port)) === 200, 3000, { everyMs: 50 });
    expect(performance.now() - limited).toBeGreaterThan(300);
  });

  it("pipelined requests are answered in order, one at a time", async () => {
    let active = 0;
    let most = 0;
    const { port } = await serve({ maxConnections: 100, maxRequests: 40 }, () => {
      active++;
      most = Math.max(most, active);
      return {
        contentType: "text/plain",
        body: sleep(20).then(() => {
          active--;
          return Buffer.from("m 1\n");
        }),
      };
    });
    const socket = await idle(port);
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.write(
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(5) +
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    await waitFor("six answers", () => (text.match(/HTTP\/1\.1 /g) ?? []).length >= 6, 2000, {
      everyMs: 20,
      seen: () => text,
    });
    expect([...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1])).toEqual([
      "200",
      "200",
      "200",
      "200",
      "200",
      "404",
    ]);
    expect(most).toBe(1);
  });

  it.each([
    ["headers never finished", "GET /metrics HTTP/1.1\r\nHo"],
    ["an idle keep-alive after an answer", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"],
  ])("closes a connection with %s after its timeout", async (_name, sent) => {
    const { server, port } = await serve({
      maxConnections: 100,
      maxRequests: 40,
      timeouts: { headersMs: 300, requestMs: 600, keepAliveMs: 300 },
    });
    const socket = await idle(port);
    socket.write(sent);
    const closedAt = await new Promise<number>((resolve) => {
      const start = Date.now();
      socket.once("close", () => resolve(Date.now() - start));
    });
    // Node checks request timeouts once a second; keep-alive is a socket timer.
    expect(closedAt).toBeLessThan(2500);
    await waitFor("the server to drop it too", () => server.openConnections === 0, 500, {
      everyMs: 10,
    });
  });
});

describe("ExporterServer: a body of parts", () => {
  function fetchRaw(port: number, method: string): Promise<{ length: string; body: string }> {
    return new Promise((resolve, reject) => {
      const req = get(
        { host: "127.0.0.1", port, path: "/metrics", method, agent: false },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => resolve({ length: res.headers["content-length"] ?? "", body }));
        },
      );
      req.on("error", reject);
    });
  }

  it("writes the parts one after the other under one content-length, and none for HEAD", async () => {
    // The rendering's parts (the users' series, the process metrics), never copied into one.
    const parts = [Buffer.from("a 1\n"), Buffer.from("b 2\n".repeat(50_000)), Buffer.from("c 3\n")];
    const { port } = await serve({ maxConnections: 8, maxRequests: 8 }, () => ({
      contentType: "text/plain",
      body: parts,
    }));
    const whole = Buffer.concat(parts).toString();
    expect(await fetchRaw(port, "GET")).toEqual({ length: String(whole.length), body: whole });
    expect(await fetchRaw(port, "HEAD")).toEqual({ length: String(whole.length), body: "" });
    const empty = await serve({ maxConnections: 8, maxRequests: 8 }, () => ({
      contentType: "text/plain",
      body: Promise.resolve([]),
    }));
    expect(await fetchRaw(empty.port, "GET")).toEqual({ length: "0", body: "" });
  });
});
