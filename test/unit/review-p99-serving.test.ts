import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import bcrypt from "bcrypt";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { MainPages, WorkerSettings } from "../../src/exporter/http/serving-thread.js";
import { ServingThread } from "../../src/exporter/http/serving-thread.js";
import { waitFor } from "../helpers/expect-soon.js";

/*
 * A hostile review of wt/p99's serving worker (ServingThread, serve-worker.ts): a network client
 * of /metrics tries for a torn or stale body, a response without the auth the web config asks
 * for, a crash or unbounded growth, a listening socket left after stop. Tests named "held: ..."
 * passed on wt/p99 at a94823d (the attack failed); an `it.fails` names an open hole.
 */

// The worker runs the built module (a worker thread cannot load the TypeScript sources).
const entry = new URL("../../dist/exporter/http/serve-worker.js", import.meta.url);
const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const pages: MainPages = {
  landing: () => "<html>landing</html>",
  checks: (lang) => JSON.stringify({ lang }),
  scraped: () => undefined,
};

function settingsWith(extra: Partial<WorkerSettings>): WorkerSettings {
  return {
    listen: { host: "127.0.0.1", port: 0 },
    telemetryPath: "/metrics",
    contentType: "text/plain; version=0.0.4",
    maxConnections: 16,
    maxRequests: 8,
    webConfigFile: undefined,
    logLevel: "silent",
    ...extra,
  };
}

async function startThread(
  extra: Partial<WorkerSettings> = {},
): Promise<{ thread: ServingThread; port: number }> {
  const thread = new ServingThread(pages, log, settingsWith(extra), entry);
  const { port } = await thread.start();
  cleanups.push(() => thread.stop());
  return { thread, port };
}

/** The shared buffers the main thread still lends the worker (serving-thread.ts `lent`). */
const lentCount = (thread: ServingThread): number =>
  (thread as unknown as { lent: Map<number, SharedArrayBuffer> }).lent.size;

/** A port nobody listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Body number `id`: a first line naming it, then `size` bytes of one letter of its own. */
function body(id: number, size: number): Buffer[] {
  const head = Buffer.from(`# body ${String(id).padStart(8, "0")}\n`);
  return [head, Buffer.alloc(size, 0x61 + (id % 26))];
}

/** The id of a body, or -1 when its filler is not all the letter of that id (a torn body). */
function bodyId(data: Buffer): number {
  const match = /^# body (\d{8})\n/.exec(data.subarray(0, 16).toString("latin1"));
  if (!match) return -1;
  const id = Number(match[1]);
  const letter = 0x61 + (id % 26);
  for (let i = 16; i < data.length; i++) if (data[i] !== letter) return -1;
  return id;
}

/**
 * Raw HTTP/1.1 on one connection: sends `requests` at once (pipelined) and reads the answers,
 * `readDelayMs` between reads (a slow client); each answer's status and body.
 */
async function pipelined(
  port: number,
  requests: readonly string[],
  readDelayMs = 0,
): Promise<{ status: number; body: Buffer }[]> {
  const socket: Socket = connect(port, "127.0.0.1");
  cleanups.push(() => socket.destroy());
  socket.write(requests.join(""));
  let data = Buffer.alloc(0);
  const answers: { status: number; body: Buffer }[] = [];
  for (;;) {
    // Parse what came so far.
    for (;;) {
      const headEnd = data.indexOf("\r\n\r\n");
      if (headEnd < 0) break;
      const head = data.subarray(0, headEnd).toString("latin1");
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (data.length < headEnd + 4 + length) break;
      answers.push({
        status: Number(head.split(" ")[1]),
        body: data.subarray(headEnd + 4, headEnd + 4 + length),
      });
      data = data.subarray(headEnd + 4 + length);
    }
    if (answers.length === requests.length) break;
    const chunk = await new Promise<Buffer | undefined>((resolve) => {
      const onData = (c: Buffer) => {
        socket.off("close", onClose);
        socket.pause();
        resolve(c);
      };
      const onClose = () => {
        socket.off("data", onData);
        resolve(undefined);
      };
      socket.once("data", onData).once("close", onClose);
      socket.resume();
    });
    if (!chunk) break;
    data = Buffer.concat([data, chunk]);
    if (readDelayMs > 0) await sleep(readDelayMs);
  }
  socket.destroy();
  return answers;
}

const get = (path: string, auth?: string) =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\n${
    auth ? `Authorization: Basic ${Buffer.from(auth).toString("base64")}\r\n` : ""
  }\r\n`;

beforeAll(() => {
  const built = statSync(fileURLToPath(entry)).mtimeMs;
  const source = statSync(new URL("../../src/exporter/http/serve-worker.ts", import.meta.url));
  if (built < source.mtimeMs) throw new Error("dist/ is older than src/: run npm run build");
});

describe("review of wt/p99: torn, stale and pinned bodies", () => {
  it("held: slow pipelining clients get whole bodies, never an older one than they saw", async () => {
    const { thread, port } = await startThread({ maxRequests: 16 });
    // Bodies of one size, so a buffer given back is reused for the next one at once.
    const size = 1_000_000;
    let id = 0;
    thread.publish("text/plain", body(id, size));
    await waitFor(
      "the first body",
      async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    );
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        thread.publish("text/plain", body(++id, size));
        await sleep(3);
      }
    })();
    try {
      // Three clients, each pipelining 6 scrapes and reading slowly (64 KiB every 5 ms or so).
      const clients = await Promise.all(
        [0, 1, 2].map(() => pipelined(port, Array(6).fill(get("/metrics")), 5)),
      );
      for (const answers of clients) {
        expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
        const ids = answers.map((a) => bodyId(a.body));
        expect(ids.every((n) => n >= 0)).toBe(true); // none torn
        for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThanOrEqual(ids[i - 1] ?? 0);
      }
    } finally {
      publishing = false;
      await publisher;
    }
    // Hundreds of bodies later, nothing is still lent but the current one.
    expect(id).toBeGreaterThan(20);
    await waitFor("the buffers given back", () => Promise.resolve(lentCount(thread) === 1));
  });

  it("held (control): bodies published with no scrape pending are given back but the last", async () => {
    const { thread } = await startThread();
    for (let i = 0; i < 5; i++) {
      thread.publish("text/plain", body(i, 10_000));
      await sleep(30);
    }
    await waitFor("the buffers given back", () => Promise.resolve(lentCount(thread) === 1));
  });

  // HOLE (serve-worker.ts ServeWorker.metrics, the path "Before the first rendering"): a scrape
  // that arrives before the first body and is abandoned (the client closes) runs `done` on
  // "close" while nothing is taken yet; when the first body comes, the promise still takes it
  // (writers++) and nothing ever gives it back, so that body's shared buffer stays lent for the
  // life of the process (the main thread's `lent` keeps it; every client that does this before
  // the first rendering adds a writer to it). Bounded to one body, but a leak any client can
  // cause at start. Fix: in metrics(), have `done` mark the scrape abandoned, and take nothing
  // when the first body comes for an abandoned one (or resolve the promise to the body without
  // taking it and take in `send`'s path only when the response is still writable).
  it.fails("a scrape abandoned before the first body does not pin that body's buffer", async () => {
    const { thread, port } = await startThread();
    const socket = connect(port, "127.0.0.1");
    socket.write(get("/metrics"));
    await sleep(200); // the worker is waiting for the first body with it
    socket.destroy();
    await sleep(200);
    for (let i = 0; i < 4; i++) {
      thread.publish("text/plain", body(i, 10_000));
      await sleep(50);
    }
    await waitFor("the buffers given back", () => Promise.resolve(lentCount(thread) === 1), 2000, {
      seen: () => `lent ${lentCount(thread)}`,
    });
  });
});

describe("review of wt/p99: the web config's auth in the worker", () => {
  let dir = "";
  let webConfigFile = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "review-p99-"));
    webConfigFile = join(dir, "web.yml");
    const hash = await bcrypt.hash("alice-pw", 4);
    writeFileSync(webConfigFile, `basic_auth_users:\n  alice: "${hash}"\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("held: no answer without credentials from the first connection the port takes", async () => {
    const port = await freePort();
    const statuses: number[] = [];
    let hammering = true;
    // A client that connects again and again while the worker starts, without credentials.
    const hammer = (async () => {
      while (hammering) {
        const answers = await new Promise<number[]>((resolve) => {
          const socket = connect(port, "127.0.0.1");
          let text = "";
          socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
          socket.on("error", () => resolve([]));
          socket.on("close", () => {
            const status = /^HTTP\/1\.1 (\d+)/.exec(text)?.[1];
            resolve(status ? [Number(status)] : []);
          });
          socket.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        });
        statuses.push(...answers);
        await sleep(1);
      }
    })();
    try {
      const thread = new ServingThread(
        pages,
        log,
        settingsWith({ listen: { host: "127.0.0.1", port }, webConfigFile }),
        entry,
      );
      cleanups.push(() => thread.stop());
      thread.publish("text/plain", [Buffer.from("secret 1\n")]); // before it listens: ignored
      const started = thread.start();
      thread.publish("text/plain", [Buffer.from("secret 2\n")]);
      await started;
      thread.publish("text/plain", [Buffer.from("secret 3\n")]);
      await waitFor("answers", () => Promise.resolve(statuses.length >= 20));
    } finally {
      hammering = false;
      await hammer;
    }
    expect(statuses.filter((s) => s !== 401)).toEqual([]);
  });

  it("held: each pipelined request is checked, /healthz between them opens nothing", async () => {
    const { thread, port } = await startThread({ webConfigFile });
    thread.publish("text/plain", [Buffer.from("secret 1\n")]);
    const answers = await pipelined(port, [
      get("/metrics", "alice:alice-pw"),
      get("/metrics"),
      get("/healthz"),
      get("/metrics", "alice:wrong"),
      get("/checks"),
      get("/"),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 401, 200, 401, 401, 401]);
    expect(answers[0]?.body.toString()).toBe("secret 1\n");
  });

  it("held: a silent main thread's 503 comes only after the credentials are checked", async () => {
    const { thread, port } = await startThread({ webConfigFile, aliveWithinMs: 300 });
    thread.publish("text/plain", [Buffer.from("secret 1\n")]);
    await waitFor("the body", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    // This thread blocked (no heartbeat) while another process asks, with and without auth.
    const auth = Buffer.from("alice:alice-pw").toString("base64");
    const script = `setTimeout(async () => {
      const a = await fetch("http://127.0.0.1:${port}/metrics");
      const b = await fetch("http://127.0.0.1:${port}/metrics", { headers: { authorization: "Basic ${auth}" } });
      process.stdout.write(a.status + " " + b.status);
    }, 700);`;
    const run = spawnSync(process.execPath, ["-e", script], { timeout: 10_000, encoding: "utf8" });
    expect(run.stdout).toBe("401 503");
  });
});

describe("review of wt/p99: crashes, growth and shutdown", () => {
  it("held: huge headers and more slow connections than the cap leave a scrape answered", async () => {
    const { thread, port } = await startThread({ maxConnections: 16 });
    thread.publish("text/plain", [Buffer.from("m 1\n")]);
    // 64 KiB of headers: refused (431 or closed), the worker alive.
    const huge = await pipelined(port, [
      `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`,
    ]);
    expect(huge.every((a) => a.status === 431)).toBe(true);
    // 64 connections that never finish their headers, then a scrape.
    const slow: Socket[] = [];
    for (let i = 0; i < 64; i++) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.write("GET /metrics HTTP/1.1\r\nHost: x\r\n");
      slow.push(socket);
    }
    cleanups.push(() => slow.forEach((s) => s.destroy()));
    await sleep(200);
    const answer = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("m 1\n");
  });

  // HOLE, minor (serve-worker.ts ServeWorker.metrics: `this.port.postMessage({ kind: "scraped" })`
  // on every scrape): while the main thread is busy (a long slice, a major GC; up to the 30 s
  // liveness bound), every /metrics answered posts a message that waits in the main thread's
  // queue: a client scraping in a loop queues one per request (31,625 in a 3 s block here, RSS
  // +14 MiB; some 140 MiB over 30 s), then the main thread handles them all (feed.watch each).
  // On main, scrapes during a block waited in the socket backlog, bounded. Fix: coalesce, e.g.
  // post "scraped" only when none is outstanding (a flag the main thread's next message, or an
  // "ack", clears) or at most once per BodyFeed poll (20 ms).
  it.fails(
    "a flood of scrapes while the main thread is blocked queues a bounded number of messages",
    async () => {
      let scraped = 0;
      const thread = new ServingThread(
        { ...pages, scraped: () => void scraped++ },
        log,
        settingsWith({ maxConnections: 32, maxRequests: 32 }),
        entry,
      );
      const { port } = await thread.start();
      cleanups.push(() => thread.stop());
      thread.publish("text/plain", [Buffer.alloc(10_000, 0x61)]);
      await waitFor("the body", async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok);
      await sleep(100);
      const before = scraped;
      // This thread blocked 1.5 s while another process scrapes in a loop on 8 connections.
      const script = `const http = require("node:http");
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      let n = 0; const end = Date.now() + 1500;
      const go = () => { if (Date.now() > end) return;
        http.get({ host: "127.0.0.1", port: ${port}, path: "/metrics", agent }, (res) => {
          res.resume(); res.on("end", () => { n++; go(); }); }).on("error", () => {}); };
      for (let i = 0; i < 8; i++) go();
      setTimeout(() => { process.stdout.write(String(n)); process.exit(0); }, 1600);`;
      const run = spawnSync(process.execPath, ["-e", script], {
        timeout: 10_000,
        encoding: "utf8",
      });
      await sleep(300); // the queued messages handled
      expect(Number(run.stdout)).toBeGreaterThan(500);
      expect(scraped - before).toBeLessThan(100);
    },
  );

  it("held: stop() while the worker starts leaves no listening socket once it resolves", async () => {
    const port = await freePort();
    const thread = new ServingThread(
      pages,
      log,
      settingsWith({ listen: { host: "127.0.0.1", port } }),
      entry,
    );
    const started = thread.start().then(
      () => "listening",
      (err: Error) => err.message,
    );
    await thread.stop();
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve("accepted");
      });
      socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
    expect(await started).toMatch(/exited before it listened|listening/);
  });

  it("held: stop() with a client holding an answer closes the port", async () => {
    const { thread, port } = await startThread();
    thread.publish("text/plain", body(1, 8 * 1024 * 1024));
    await waitFor("the body", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    const slow = connect(port, "127.0.0.1");
    slow.on("error", () => undefined);
    slow.pause();
    slow.write(get("/metrics"));
    await sleep(200);
    const t0 = Date.now();
    await thread.stop();
    expect(Date.now() - t0).toBeLessThan(6000);
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve("accepted");
      });
      socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    slow.destroy();
    expect(refused).toBe("ECONNREFUSED");
  });

  it("held: a worker that throws is logged and ends the process with status 1", async () => {
    // In a process of its own (the exit is the process's): a malformed message makes the
    // worker's handler throw, as any bug in it would.
    const threadModule = new URL("../../dist/exporter/http/serving-thread.js", import.meta.url);
    const script = `
      const { ServingThread } = await import(${JSON.stringify(threadModule.href)});
      const log = { debug() {}, info() {}, error: (f, m) => process.stdout.write("ERROR " + m + "\\n") };
      const thread = new ServingThread(
        { landing: () => "", checks: () => "{}", scraped: () => {} }, log,
        { listen: { host: "127.0.0.1", port: 0 }, telemetryPath: "/metrics", contentType: "text/plain",
          maxConnections: 4, maxRequests: 4, webConfigFile: undefined, logLevel: "silent" },
        new URL(${JSON.stringify(entry.href)}));
      await thread.start();
      process.stdout.write("listening\\n");
      thread.worker.postMessage({ kind: "body", id: 0, contentType: "x", parts: null });
      setTimeout(() => { process.stdout.write("still alive\\n"); process.exit(0); }, 5000);
    `;
    // A file, not -e: a worker inherits the process's execArgv (--input-type would fail it).
    const dir = mkdtempSync(join(tmpdir(), "review-p99-crash-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "crash.mjs"), script);
    const child = spawn(process.execPath, [join(dir, "crash.mjs")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(out).toContain("listening");
    expect(out).toContain("ERROR HTTP worker failed");
    expect(out).not.toContain("still alive");
    expect(code).toBe(1);
  });
});
