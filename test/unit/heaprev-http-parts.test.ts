import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Routes } from "../../src/exporter/http/server.js";
import { ExporterServer } from "../../src/exporter/http/server.js";
import { MetricsRenderer } from "../../src/exporter/render/renderer.js";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import { answers, cleanups, log, sleep, world } from "../helpers/parts-server.js";

// heaprev: a big body served as many parts (one per metric block), over real sockets: its
// Content-Length, HEAD, pipelined requests, and a client that reads slowly while the next
// renderings replace some blocks: each answer is byte for byte the body it was given.

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `serve`: bodies taken as the daemon takes them (serve(), replaced blocks freed: firstcycle). */
async function setUp(serve = false) {
  const { samples, change } = world();
  const renderer = new MetricsRenderer({
    samples,
    exporterMetrics: false,
    coalesceMs: 0,
    release: serve,
  });
  // Each body handed out, copied at that moment: what the client must get.
  const given: Buffer[] = [];
  const givenParts: (readonly Buffer[])[] = [];
  const partCounts: number[] = [];
  const routes: Routes = {
    telemetryPath: "/metrics",
    metrics: () => {
      const served = serve ? renderer.serve() : { body: renderer.body(), done: undefined };
      const body = served.body;
      const keep = (parts: readonly Buffer[]) => {
        partCounts.push(parts.length);
        givenParts.push(parts);
        given.push(Buffer.concat(parts));
        return parts;
      };
      return {
        contentType: renderer.contentType,
        body: body instanceof Promise ? body.then(keep) : keep(body),
        done: served.done,
      };
    },
    landing: () => "landing",
    checks: () => "{}",
  };
  const server = new ExporterServer(routes, log, { maxConnections: 8, maxRequests: 8 });
  const { port } = await server.start({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => server.stop());
  cleanups.push(() => renderer.stop());
  /** The next rendering made (a change, invalidated, then awaited). */
  const rerender = async (round: number) => {
    change(round);
    renderer.invalidate();
    const before = renderer.body();
    for (let i = 0; i < 200 && renderer.body() === before; i++) await sleep(5);
  };
  await renderer.render();
  return { port, given, givenParts, partCounts, rerender, renderer };
}

describe("heaprev: many parts over HTTP", () => {
  it("pipelined GET, HEAD, GET: Content-Length right, HEAD has none, bodies whole", async () => {
    const { port, given, partCounts } = await setUp();
    const socket = connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    const methods = ["GET", "HEAD", "GET"];
    const got = answers(socket, methods);
    socket.write(
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" +
        "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    const [a, b, c] = await got;
    // Served as parts (more than one: the body is over 1 MiB).
    if ("renderParts" in SnapshotRenderer.prototype)
      expect(Math.max(...partCounts)).toBeGreaterThan(1);
    expect(a?.head).toMatch(/^HTTP\/1.1 200/);
    expect(a?.body.equals(given[0] as Buffer)).toBe(true);
    expect(b?.head).toMatch(new RegExp(`content-length: ${(given[1] as Buffer).length}`, "i"));
    expect(c?.body.equals(given[2] as Buffer)).toBe(true);
  });

  it.each([false, true])(
    "a client reading slowly gets the body it was given while later renderings change blocks (serve: %s)",
    async (serve) => {
      const { port, given, givenParts, rerender, renderer } = await setUp(serve);
      const slow = connect(port, "127.0.0.1");
      cleanups.push(() => slow.destroy());
      await new Promise((resolve) => slow.once("connect", resolve));
      slow.pause();
      const methods = ["GET", "GET"];
      slow.write(
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      await sleep(50);
      // Renderings go on while the answer is stuck in the socket.
      for (let round = 0; round < 6; round++) await rerender(round);
      // Some blocks of the body being sent were replaced by then (others kept as the same buffers).
      const now = renderer.body() as readonly Buffer[];
      if (now.length > 1) {
        const sent = givenParts[0] ?? [];
        expect(sent.some((part) => !now.includes(part))).toBe(true);
        expect(sent.some((part) => now.includes(part))).toBe(true);
      }
      const got = answers(slow, methods);
      // Then read a little at a time.
      const drip = setInterval(() => {
        slow.resume();
        setTimeout(() => slow.pause(), 1);
      }, 5);
      cleanups.push(() => clearInterval(drip));
      const [first, second] = await got;
      clearInterval(drip);
      slow.resume();
      expect(first?.body.equals(given[0] as Buffer)).toBe(true);
      expect(second?.body.equals(given[1] as Buffer)).toBe(true);
      if (serve) {
        // Both answers written: the blocks they held that no body serves now are freed.
        await sleep(20);
        const now = renderer.body() as readonly Buffer[];
        const gone = (givenParts[0] ?? []).filter((part) => !now.includes(part));
        expect(gone.length).toBeGreaterThan(0);
        for (const part of gone) expect(part.length).toBe(0);
      }
    },
  );
});
