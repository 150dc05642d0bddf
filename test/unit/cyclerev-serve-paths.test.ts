import bcrypt from "bcrypt";
import type { WebConfigSource } from "../../src/exporter/http/web-config-source.js";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Routes } from "../../src/exporter/http/server.js";
import { ExporterServer } from "../../src/exporter/http/server.js";
import { MetricsRenderer } from "../../src/exporter/render/renderer.js";
import { answers, cleanups, log, sleep, world } from "../helpers/parts-server.js";

// cyclerev (hostile review of firstcycle): bodies taken through renderer.serve() over a real
// server (basic auth, HEAD, pipelined, a socket destroyed mid-write): a body is given back once
// its answer is over, and its replaced blocks are then freed (none kept for ever).

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Internals = { holds: Map<unknown, number>; retired: Buffer[] };
const internals = (renderer: MetricsRenderer) => renderer as unknown as Internals;

async function setUp(auth: boolean) {
  const { samples, change } = world();
  const renderer = new MetricsRenderer({
    samples,
    exporterMetrics: false,
    coalesceMs: 0,
    release: true,
  });
  const taken: (readonly Buffer[])[] = [];
  // Each body copied as it was handed out: what its client must get.
  const given: Buffer[] = [];
  const routes: Routes = {
    telemetryPath: "/metrics",
    metrics: () => {
      const served = renderer.serve();
      const keep = (parts: readonly Buffer[]) => {
        taken.push(parts);
        given.push(Buffer.concat(parts));
        return parts;
      };
      const body = served.body;
      return {
        contentType: renderer.contentType,
        body: body instanceof Promise ? body.then(keep) : keep(body),
        done: served.done,
      };
    },
    landing: () => "landing",
    checks: () => "{}",
  };
  const web = auth
    ? { headers: {}, users: new Map([["u", await bcrypt.hash("pw", 10)]]), rateLimit: undefined }
    : undefined;
  const webConfig = web
    ? ({ current: () => web, currentTls: () => undefined } as unknown as WebConfigSource)
    : undefined;
  const server = new ExporterServer(routes, log, { maxConnections: 8, maxRequests: 8, webConfig });
  const { port } = await server.start({ host: "127.0.0.1", port: 0 });
  cleanups.push(() => server.stop());
  cleanups.push(() => renderer.stop());
  const rerender = async (round: number) => {
    change(round);
    renderer.invalidate();
    const before = renderer.body();
    for (let i = 0; i < 200 && renderer.body() === before; i++) await sleep(5);
  };
  await renderer.render();
  return { port, renderer, rerender, taken, given };
}

const authHeader = `Authorization: Basic ${Buffer.from("u:pw").toString("base64")}\r\n`;

describe("cyclerev: bodies given back on every path", () => {
  it("a client gone while its login is checked holds no body for ever", async () => {
    const { port, renderer, rerender, taken } = await setUp(true);
    const socket = connect(port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`GET /metrics HTTP/1.1\r\nHost: x\r\n${authHeader}\r\n`);
    await sleep(5);
    socket.destroy();
    for (let i = 0; i < 100 && taken.length === 0; i++) await sleep(20);
    expect(taken.length).toBe(1);
    for (let round = 0; round < 4; round++) await rerender(round);
    await sleep(50);
    // Nothing writes the body taken: it must not be held, its replaced blocks freed.
    expect(internals(renderer).holds.size).toBe(0);
    expect(internals(renderer).retired.length).toBe(0);
  });

  it("HEAD, pipelined GETs and a socket destroyed mid-write all give their body back", async () => {
    const { port, renderer, rerender } = await setUp(false);
    // A HEAD and two pipelined GETs, read at once.
    const quick = connect(port, "127.0.0.1");
    cleanups.push(() => quick.destroy());
    const methods = ["HEAD", "GET", "GET"];
    const got = answers(quick, methods);
    quick.write(methods.map((m) => `${m} /metrics HTTP/1.1\r\nHost: x\r\n\r\n`).join(""));
    const out = await got;
    const now = Buffer.concat(renderer.body() as readonly Buffer[]);
    expect(out[1]?.body.equals(now)).toBe(true);
    // A client that does not read, destroyed while its answer is stuck in the socket.
    const stuck = connect(port, "127.0.0.1");
    await new Promise((resolve) => stuck.once("connect", resolve));
    stuck.pause();
    stuck.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(50);
    for (let round = 0; round < 3; round++) await rerender(round);
    expect(internals(renderer).holds.size).toBe(1);
    stuck.destroy();
    await sleep(50);
    expect(internals(renderer).holds.size).toBe(0);
    expect(internals(renderer).retired.length).toBe(0);
  });

  it("a rendering that throws after its snapshot frees nothing the served body still has", async () => {
    const { samples, change } = world();
    const renderer = new MetricsRenderer({
      samples,
      exporterMetrics: false,
      coalesceMs: 0,
      release: true,
    });
    cleanups.push(() => renderer.stop());
    await renderer.render();
    // Process metrics that fail from now on: the next rendering throws after renderParts.
    const internal = renderer as unknown as {
      processRegistry: Promise<{ metrics: () => Promise<string> }>;
      processAt: number;
    };
    internal.processRegistry = Promise.resolve({
      metrics: () => Promise.reject(new Error("boom")),
    });
    internal.processAt = 0;
    const served = renderer.serve();
    const before = Buffer.concat((await served.body) as readonly Buffer[]);
    served.done();
    change(1);
    // The rendering run as a scheduled one would, its failure caught here.
    const state = renderer as unknown as {
      snapshot: readonly Buffer[];
      generation: number;
      refresh: () => Promise<void>;
    };
    const old = state.snapshot;
    state.generation++;
    await expect(state.refresh()).rejects.toThrow("boom");
    // The rendering did run and fail: its snapshot is new, the body served is not.
    expect(state.snapshot).not.toBe(old);
    expect(Buffer.concat(state.snapshot).equals(before)).toBe(false);
    const after = renderer.serve();
    const parts = (await after.body) as readonly Buffer[];
    // Still the body before (the rendering failed), byte for byte, nothing of it freed.
    expect(Buffer.concat(parts).equals(before)).toBe(true);
    after.done();
    expect(parts.every((part) => part.length > 0)).toBe(true);
    // Then renderings that succeed again: each body byte for byte what a renderer that frees
    // nothing makes of the same users.
    const plain = new MetricsRenderer({ samples, exporterMetrics: false, coalesceMs: 0 });
    cleanups.push(() => plain.stop());
    (internal as unknown as { processRegistry: undefined }).processRegistry = undefined;
    for (let round = 2; round < 6; round++) {
      change(round);
      state.generation++;
      await state.refresh();
      const served = renderer.serve();
      const got = Buffer.concat((await served.body) as readonly Buffer[]);
      plain.invalidate();
      const want = await (plain as unknown as { refresh: () => Promise<void> })
        .refresh()
        .then(() => plain.render());
      expect(got.equals(want)).toBe(true);
      served.done();
    }
  });

  it("a client gone before the first body holds nothing", async () => {
    const { samples } = world();
    const renderer = new MetricsRenderer({ samples, exporterMetrics: false, release: true });
    cleanups.push(() => renderer.stop());
    const served = renderer.serve();
    served.done();
    const parts = await served.body;
    expect(parts.length).toBeGreaterThan(0);
    expect(internals(renderer).holds.size).toBe(0);
  });

  it("slow clients keep only the bodies they write: every block kept is in one of them", async () => {
    const { port, renderer, rerender, taken, given } = await setUp(false);
    const slow = [];
    // Three clients that do not read, each taking the body of another rendering.
    for (let c = 0; c < 3; c++) {
      const socket = connect(port, "127.0.0.1");
      cleanups.push(() => socket.destroy());
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.pause();
      socket.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      slow.push(socket);
      await sleep(50);
      for (let round = 0; round < 3; round++) await rerender(c * 3 + round);
    }
    for (let round = 9; round < 15; round++) await rerender(round);
    const { holds, retired } = internals(renderer);
    expect(holds.size).toBe(3);
    const held = new Set(taken.flat());
    // Nothing kept beyond what the three answers write (bounded by the connections).
    for (const block of retired) expect(held.has(block)).toBe(true);
    expect(new Set(retired).size).toBe(retired.length);
    // Then each read out: every byte as given, and nothing kept once all are done.
    for (const [c, socket] of slow.entries()) {
      const got = answers(socket, ["GET"]);
      socket.resume();
      const [answer] = await got;
      expect(answer?.body.equals(given[c] as Buffer)).toBe(true);
    }
    await sleep(50);
    expect(internals(renderer).holds.size).toBe(0);
    expect(internals(renderer).retired.length).toBe(0);
  });
});
