import fc from "fast-check";
import { linkSync, mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import type { Server } from "node:net";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { maxHeaderBytes, parseResponse, unixHttp } from "../../src/host/unix-http.js";

const bytes = (text: string) => Buffer.from(text, "latin1");

describe("parseResponse", () => {
  const done = (status: number, body: string) => ({ state: "done", status, body: bytes(body) });

  it.each([
    ["a length, exactly", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK", false, done(200, "OK")],
    [
      "a length, more bytes after",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOKzz",
      false,
      done(200, "OK"),
    ],
    ["no length, closed", "HTTP/1.0 404 Not Found\r\nX: y\r\n\r\nnope", true, done(404, "nope")],
    ["no reason phrase", "HTTP/1.0 204\r\n\r\n", true, done(204, "")],
    [
      "identity coding",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: identity\r\n\r\nA",
      true,
      done(200, "A"),
    ],
  ])("%s", (_name, text, ended, expected) => {
    expect(parseResponse(bytes(text), ended, 1024)).toEqual(expected);
  });

  it.each([
    ["no header yet", "HTTP/1.0 200 OK\r\nContent-", false, { state: "incomplete" }],
    [
      "a length not reached",
      "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nab",
      false,
      { state: "incomplete", header: { bytes: 38, total: 43 } },
    ],
    [
      "no length, still open",
      "HTTP/1.0 200 OK\r\n\r\nab",
      false,
      { state: "incomplete", header: { bytes: 19 } },
    ],
  ])("incomplete: %s", (_name, text, ended, expected) => {
    expect(parseResponse(bytes(text), ended, 1024)).toEqual(expected);
  });

  it.each([
    ["closed before a header", "HTTP/1.0 200 OK\r\n", true, "error", /before a header/],
    [
      "closed before the length",
      "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nab",
      true,
      "error",
      /2 of 9 bytes/,
    ],
    ["not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", false, "error", /status line/],
    [
      "chunked",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK",
      false,
      "error",
      /chunked/,
    ],
    [
      "a bad length",
      "HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
      false,
      "error",
      /content-length/,
    ],
    [
      "two lengths",
      "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      false,
      "error",
      /content-length/,
    ],
    ["a line with no colon", "HTTP/1.0 200 OK\r\nbroken\r\n\r\n", false, "error", /malformed/],
    [
      "a length over the bound",
      "HTTP/1.0 200 OK\r\nContent-Length: 2000\r\n\r\n",
      false,
      "too_large",
      /2000 bytes/,
    ],
    [
      "a body over the bound",
      `HTTP/1.0 200 OK\r\n\r\n${"x".repeat(1025)}`,
      false,
      "too_large",
      /longer than 1024/,
    ],
    [
      "an endless header",
      `HTTP/1.0 200 OK\r\nX: ${"x".repeat(maxHeaderBytes)}`,
      false,
      "too_large",
      /header longer/,
    ],
  ])("%s", (_name, text, ended, state, detail) => {
    const answer = parseResponse(bytes(text), ended, 1024);
    expect(answer.state).toBe(state);
    expect("detail" in answer && answer.detail).toMatch(detail);
  });

  it("gives back status and body whatever the chunks, with or without a length", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 5 }),
        (status, body, withLength, cuts) => {
          const response = Buffer.concat([
            bytes(`HTTP/1.0 ${status} X\r\nServer: go\r\n`),
            bytes(withLength ? `Content-Length: ${body.length}\r\n\r\n` : "\r\n"),
            Buffer.from(body),
          ]);
          // Fed as it arrives: every prefix is incomplete or already the answer, never wrong.
          for (const cut of cuts.map((c) => c % (response.length + 1))) {
            const early = parseResponse(response.subarray(0, cut), false, 4096);
            if (early.state === "done") expect(early.body).toEqual(Buffer.from(body));
            else expect(early.state).toBe("incomplete");
          }
          expect(parseResponse(response, true, 4096)).toEqual({
            state: "done",
            status,
            body: Buffer.from(body),
          });
        },
      ),
    );
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (data, ended) => {
        parseResponse(Buffer.from(data), ended, 64);
      }),
    );
  });
});

describe("unixHttp against servers on unix sockets", () => {
  const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-http-"));
  const servers: Server[] = [];
  let counter = 0;
  const socketPath = () => join(dir, `s${counter++}.sock`);
  async function serve(server: Server): Promise<string> {
    const path = socketPath();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return path;
  }
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("GET and POST to a Node HTTP server (an HTTP/1.0 answer, Connection: close)", async () => {
    const seen: string[] = [];
    const path = await serve(
      createHttpServer((req, res) => {
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString()));
        req.on("end", () => {
          seen.push(`${req.method} ${req.url} ${req.httpVersion} ${body}`);
          res.writeHead(req.method === "POST" ? 201 : 200, { "content-type": "application/json" });
          res.end(JSON.stringify({ id: 7, got: body }));
        });
      }),
    );
    const get = await unixHttp(path, "/v1/info", { timeoutMs: 2000 });
    expect(get).toEqual({ ok: true, status: 200, body: '{"id":7,"got":""}' });
    const post = await unixHttp(path, "/v1/ports", {
      method: "POST",
      body: '{"proto":"tcp"}',
      timeoutMs: 2000,
    });
    expect(post).toMatchObject({ ok: true, status: 201 });
    expect(seen).toEqual(["GET /v1/info 1.0 ", 'POST /v1/ports 1.0 {"proto":"tcp"}']);
  });

  it("keeps its side open until the answer (Go cancels a request whose client closed)", async () => {
    let clientEnded = false;
    const path = await serve(
      createServer((socket: Socket) => {
        socket.on("end", () => (clientEnded = true));
        socket.once("data", () =>
          setTimeout(() => {
            socket.end(clientEnded ? "HTTP/1.0 499 X\r\n\r\n" : "HTTP/1.0 200 OK\r\n\r\nfine");
          }, 50),
        );
      }),
    );
    expect(await unixHttp(path, "/_ping", { timeoutMs: 2000 })).toEqual({
      ok: true,
      status: 200,
      body: "fine",
    });
  });

  it("answers as soon as Content-Length is reached, even if the server keeps the connection", async () => {
    const path = await serve(
      createServer((socket: Socket) => {
        socket.once("data", () => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"));
      }),
    );
    const started = Date.now();
    expect(await unixHttp(path, "/_ping", { timeoutMs: 2000 })).toMatchObject({ body: "OK" });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("a server that accepts and never answers: timeout within the bound", async () => {
    const held: Socket[] = [];
    const path = await serve(createServer((socket: Socket) => void held.push(socket)));
    const started = Date.now();
    const result = await unixHttp(path, "/info", { timeoutMs: 200 });
    expect(result).toMatchObject({ ok: false, reason: "timeout" });
    expect(Date.now() - started).toBeLessThan(1000);
    for (const socket of held) socket.destroy();
  });

  it("an answer over the size bound is cut off", async () => {
    const path = await serve(
      createServer((socket: Socket) => {
        socket.once("data", () => {
          socket.write("HTTP/1.0 200 OK\r\n\r\n");
          // More than the bound, in chunks, and never closed: the client must stop by itself.
          for (let i = 0; i < 40; i++) socket.write(Buffer.alloc(64 * 1024, 120));
        });
        socket.on("error", () => undefined);
      }),
    );
    const result = await unixHttp(path, "/info", { timeoutMs: 2000, maxBytes: 1024 * 1024 });
    expect(result).toMatchObject({ ok: false, reason: "too_large" });
  });

  it("a server that closes without answering, or answers garbage", async () => {
    const closes = await serve(
      createServer((socket: Socket) => socket.once("data", () => socket.end())),
    );
    expect(await unixHttp(closes, "/", { timeoutMs: 2000 })).toMatchObject({
      ok: false,
      reason: "error",
      detail: expect.stringMatching(/before a header/) as unknown,
    });
    const garbage = await serve(
      createServer((socket: Socket) => socket.once("data", () => socket.end("hello\r\n\r\n"))),
    );
    expect(await unixHttp(garbage, "/", { timeoutMs: 2000 })).toMatchObject({
      ok: false,
      reason: "error",
    });
  });

  it("a missing socket, and a socket file nobody listens on", async () => {
    expect(await unixHttp(join(dir, "absent.sock"), "/", { timeoutMs: 2000 })).toMatchObject({
      ok: false,
      reason: "missing",
    });
    const server = createServer();
    const path = socketPath();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const stale = join(dir, "stale.sock");
    linkSync(path, stale); // the listener's close removes its own path, not this one
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await unixHttp(stale, "/", { timeoutMs: 2000 })).toMatchObject({
      ok: false,
      reason: "refused",
    });
  });

  it("an abort ends the request; a method or path that would break the request is refused", async () => {
    const held: Socket[] = [];
    const path = await serve(createServer((socket: Socket) => void held.push(socket)));
    const controller = new AbortController();
    const pending = unixHttp(path, "/info", { timeoutMs: 5000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toMatchObject({ ok: false, reason: "timeout", detail: "aborted" });
    for (const socket of held) socket.destroy();
    for (const [method, target] of [
      ["GET", "/info HTTP/1.1\r\nX: y"],
      ["GET", "info"],
      ["GET X", "/"],
    ] as const) {
      expect(await unixHttp(path, target, { method, timeoutMs: 100 })).toMatchObject({
        ok: false,
        reason: "error",
        detail: expect.stringMatching(/^refusing/) as unknown,
      });
    }
  });
});
