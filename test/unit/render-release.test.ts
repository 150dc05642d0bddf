import { describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { exposition } from "../../src/exporter/render/exposition.js";
import { copyBlock } from "../../src/exporter/render/block-bytes.js";
import { ownBytes, release } from "../../src/exporter/render/own-bytes.js";
import { MetricsRenderer } from "../../src/exporter/render/renderer.js";
import { ChunkCache } from "../../src/exporter/render/chunk-cache.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import { samplesFrom } from "../../src/exporter/render/samples.js";
import { Assembly } from "../../src/exporter/render/assembly.js";
import { MetricOrdinals, runFields, userChunk } from "../../src/exporter/render/user-chunk.js";
import type { CollectorState } from "../../src/exporter/schedule/ledger.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// Issue 19, the first cycle's peak: a replaced block, and a user's bytes once copied into the
// body, are freed at once rather than at the next major GC, but never while an answer writes them.

const healthy = healthyFacts();
const collectorNames = ["cgroup", "client", "dbus", "docker", "linger", "network", "subid"];
/** Enough users for a body over 1 MB, served as its blocks. */
const targets: Target[] = Array.from({ length: 500 }, (_, i) => ({
  ...alice,
  name: `user${String(i).padStart(5, "0")}`,
  uid: 2000 + i,
  gid: 2000 + i,
  groups: [2000 + i],
  runtimeDir: `/run/user/${2000 + i}`,
}));
const views = targets.map((target): TargetView<FactsByCollector> => ({
  target,
  facts: { ...healthy, docker: { ...healthy.docker } },
  complete: true,
  errors: [],
}));

/** The same users' views each time; the collectors' error counts are `generation`. */
function snapshot(generation: number): SamplesInput {
  const collectors = collectorNames.map((name): CollectorState => ({
    name,
    scope: "user",
    intervalSeconds: 15,
    ok: true,
    error: undefined,
    lastRunAt: 1,
    durationSeconds: 0.5,
    lastSuccessAt: 1,
    errorsTotal: generation,
    runs: targets.length,
  }));
  return {
    collectors,
    views,
    host: { kernel: healthy.kernel },
    hostFindings: [],
    mode: "host",
    userRuns: targets.flatMap((t) =>
      collectorNames.map((c) => ({ collector: c, user: t.name, ok: true })),
    ),
    build: { version: "0.0.0", nodejsVersion: "v20" },
  };
}

async function rerender(renderer: MetricsRenderer): Promise<readonly Buffer[]> {
  renderer.invalidate();
  renderer.stop();
  await (renderer as unknown as { refresh(): Promise<void> }).refresh();
  return renderer.body();
}

describe("freeing what a rendering replaced", () => {
  it("frees a buffer of its own memory, never a slice or a pooled one", () => {
    const own = ownBytes("\nrootless_x 1");
    expect(own.toString()).toBe("\nrootless_x 1");
    release(own);
    expect(own.length).toBe(0);
    const pooled = Buffer.from("\nrootless_x 1");
    release(pooled);
    expect(pooled.toString()).toBe("\nrootless_x 1");
    const whole = ownBytes("abcdef");
    const slice = whole.subarray(1, 3);
    release(slice);
    expect(whole.toString()).toBe("abcdef");
  });

  it("keeps a replaced block while an answer holds it, frees it once none does", async () => {
    let generation = 1;
    const renderer = new MetricsRenderer({
      samples: () => snapshot(generation),
      exporterMetrics: false,
      coalesceMs: 0,
      release: true,
    });
    const answer = renderer.serve();
    const first = await answer.body;
    expect(first.length).toBeGreaterThan(2);
    expect(Buffer.concat(first).toString()).toBe(exposition(samplesFrom(snapshot(1))));
    const errors = first.find((b) => b.includes("rootless_collector_errors_total")) as Buffer;
    const text = errors.toString();
    generation = 2;
    const second = await rerender(renderer);
    expect(second).not.toContain(errors);
    // Still being written by the first answer: readable as it was.
    expect(errors.toString()).toBe(text);
    answer.done();
    expect(errors.length).toBe(0);
    answer.done();
    // What the second body shares with the first (every other block) is untouched.
    expect(Buffer.concat(second).toString()).toBe(exposition(samplesFrom(snapshot(2))));
    // No answer holds the second body: its replaced block goes with the next rendering.
    const replaced = second.find((b) => b.includes("rootless_collector_errors_total")) as Buffer;
    generation = 3;
    const third = await rerender(renderer);
    expect(replaced.length).toBe(0);
    expect(Buffer.concat(third).toString()).toBe(exposition(samplesFrom(snapshot(3))));
    // An answer that ends before its body is handed over (the first rendering not made yet)
    // holds nothing.
    const late = new MetricsRenderer({
      samples: () => snapshot(1),
      exporterMetrics: false,
      release: true,
    });
    const early = late.serve();
    early.done();
    expect(Buffer.concat(await early.body).toString()).toBe(exposition(samplesFrom(snapshot(1))));
  });

  it("frees a user's own bytes once they are copied into the body", () => {
    const ordinals = new MetricOrdinals();
    const chunk = userChunk(views[0] as TargetView<FactsByCollector>, ordinals);
    const own = chunk.parts[0] as Buffer;
    const text = own.toString();
    expect(text).toMatch(/^\nrootless_/);
    const assembly = new Assembly(ordinals);
    assembly.addChunk(chunk);
    const steps = assembly.toParts();
    let step = steps.next();
    while (!step.done) step = steps.next();
    const body = Buffer.concat(step.value).toString();
    // Copied, then freed: the chunk reads its runs in the body from now on.
    expect(own.length).toBe(0);
    expect(body).toContain(text.split("\n")[1]);
    let runs = "";
    for (let at = 0; at < chunk.runs.length; at += runFields)
      runs += chunk
        .bufferOf(at)
        .subarray(chunk.runs[at + 1], chunk.runs[at + 2])
        .toString();
    expect(runs.length).toBe(text.length);
    for (const line of text.split("\n").slice(1)) expect(runs).toContain(line);
  });

  it("keeps the chunk before when a user renders again to the same bytes, frees the new ones", () => {
    const cache = new ChunkCache();
    const user = views[1] as TargetView<FactsByCollector>;
    const first = cache.chunkOf(user);
    const assembly = new Assembly(cache.ordinals);
    assembly.addChunk(first);
    const steps = assembly.toParts();
    while (!steps.next().done);
    // New facts objects, the same values (what a second cycle brings): the same chunk.
    const again = cache.chunkOf({ ...user, facts: { ...healthy, dbus: { ...healthy.dbus } } });
    expect(again).toBe(first);
    // A value changed: a new chunk, with the new value in its own bytes.
    const changed = cache.chunkOf({
      ...user,
      facts: { ...healthy, dbus: { ...healthy.dbus, pingSeconds: 0.25 } },
    });
    expect(changed).not.toBe(first);
    expect((changed.parts[0] as Buffer).toString()).toContain(" 0.25");
  });
});

describe("a block never holds a byte not written", () => {
  it("a run whose buffer was freed fails the block, never serves uninitialised memory", () => {
    const cache = new ChunkCache();
    const chunk = cache.chunkOf(views[0] as TargetView<FactsByCollector>);
    const at = 0;
    const bytes = chunk.bufferOf(at);
    const length = (chunk.runs[at + 2] ?? 0) - (chunk.runs[at + 1] ?? 0);
    const block = { parts: [chunk], runAt: [at] };
    const copy = () => {
      const steps = copyBlock(length, block, [], new Uint32Array(1), 0);
      let step = steps.next();
      while (!step.done) step = steps.next();
      return step.value;
    };
    expect(copy().equals(bytes.subarray(chunk.runs[at + 1], chunk.runs[at + 2]))).toBe(true);
    // Offsets past the bytes there are (a bookkeeping slip): copy() gives fewer, silently.
    const end = chunk.runs[at + 2] ?? 0;
    chunk.runs[at + 2] = bytes.length + 8;
    const longer = () => {
      const steps = copyBlock(
        bytes.length + 8 - (chunk.runs[at + 1] ?? 0),
        block,
        [],
        new Uint32Array(1),
        0,
      );
      let step = steps.next();
      while (!step.done) step = steps.next();
      return step.value;
    };
    expect(longer).toThrow(/bytes missing/);
    chunk.runs[at + 2] = end;
    // A freed buffer: a view of it has length 0 (or the copy throws): never a block served.
    release(bytes);
    expect(copy).toThrow();
  });
});
