import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import bcrypt from "bcrypt";
import { afterEach, describe, expect, it } from "vitest";
import type { HttpLog } from "../../src/exporter/http/http-log.js";
import { Requests } from "../../src/exporter/http/requests.js";
import type { Routes } from "../../src/exporter/http/requests.js";
import type { WebConfigSource } from "../../src/exporter/http/web-config-source.js";

// cyclerev (hostile review of firstcycle): Routes.metrics().done must be called exactly once on
// every path. A client that leaves while its request waits for a bcrypt verdict has its answer's
// "close" emitted before route() listens for it: done is then never called, and the body the
// answer took through renderer.serve() stays held for ever (its replaced blocks never freed).

const log: HttpLog = { debug: () => undefined, info: () => undefined, error: () => undefined };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function setUp() {
  const hash = await bcrypt.hash("pw", 10);
  const web = { headers: {}, users: new Map([["u", hash]]), rateLimit: undefined };
  const source = { current: () => web } as unknown as WebConfigSource;
  const calls = { taken: 0, done: 0 };
  const routes: Routes = {
    telemetryPath: "/metrics",
    metrics: () => {
      calls.taken++;
      return {
        contentType: "text/plain",
        body: [Buffer.from("a 1\n"), Buffer.from("b 2\n")],
        done: () => void calls.done++,
      };
    },
    landing: () => "landing",
    checks: () => "{}",
  };
  const requests = new Requests(routes, log, { maxRequests: 8, webConfig: source });
  const server = createServer((req, res) => void requests.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as AddressInfo).port, calls };
}

const request = (auth: string) =>
  `GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${Buffer.from(auth).toString("base64")}\r\n\r\n`;

describe("cyclerev: done once on every path", () => {
  it("an answer written out calls done once", async () => {
    const { port, calls } = await setUp();
    const socket = connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    let got = "";
    socket.on("data", (data) => (got += data.toString()));
    socket.write(request("u:pw"));
    for (let i = 0; i < 100 && !got.includes("b 2"); i++) await sleep(20);
    expect(got).toContain("a 1\nb 2\n");
    await sleep(20);
    expect(calls).toEqual({ taken: 1, done: 1 });
  });

  it("a client gone while its login is checked: the body it took is given back (done once)", async () => {
    const { port, calls } = await setUp();
    const socket = connect(port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    // A new (user, password): a bcrypt of cost 10 (tens of ms); the client leaves at once.
    socket.write(request("u:pw"));
    await sleep(5);
    socket.destroy();
    for (let i = 0; i < 100 && calls.taken === 0; i++) await sleep(20);
    await sleep(100);
    // Taken after the client left (nothing written): every body taken must be given back.
    expect(calls.taken).toBe(1);
    expect(calls.done).toBe(1);
  });
});
