import { afterEach, describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { MetricsRenderer } from "../../src/exporter/render/renderer.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// cyclerev (hostile review of firstcycle): renderings that free what they replaced (release:
// true), taken through serve() as the daemon takes them, over a sequence that mixes every way a
// rendering goes: users rendered again to the same bytes (new facts objects), values changed, a
// round with two users of one name (the whole rendering), a user gone and back, a success line
// changed. Each body must be byte for byte what a new renderer makes of the same users, and no
// body an answer still writes may lose a byte.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const healthy = healthyFacts();
const user = (i: number, name = `user${i}`): Target => ({
  ...alice,
  name,
  uid: 10_000 + i,
  gid: 10_000 + i,
  groups: [10_000 + i],
  home: `/home/user${i}`,
  runtimeDir: `/run/user/${10_000 + i}`,
});
const targets = Array.from({ length: 120 }, (_, i) => user(i));

type View = TargetView<FactsByCollector>;
const view = (target: Target, apiUp: boolean): View =>
  ({
    target,
    facts: { ...healthy, docker: { ...healthy.docker, apiUp } },
    complete: true,
    errors: [],
  }) as View;

function samplesOf(views: readonly View[], failing: string | undefined) {
  return (): SamplesInput => ({
    collectors: [],
    views,
    host: { kernel: healthy.kernel },
    hostFindings: [],
    mode: "host",
    userRuns: views.map((v) => ({
      collector: "docker",
      user: v.target.name,
      ok: v.target.name !== failing,
    })),
    build: { version: "0.0.0", nodejsVersion: "v20" },
  });
}

async function bodyOf(renderer: MetricsRenderer): Promise<Buffer> {
  const parts = await renderer.body();
  return Buffer.concat(parts);
}

describe("cyclerev: freeing renderings over a mixed sequence", () => {
  it("every body is what a new renderer makes, and held bodies keep every byte", async () => {
    let views = targets.map((t) => view(t, true));
    let failing: string | undefined;
    let samples = samplesOf(views, failing);
    const renderer = new MetricsRenderer({
      samples: () => samples(),
      exporterMetrics: false,
      coalesceMs: 0,
      release: true,
    });
    cleanups.push(() => renderer.stop());
    const state = renderer as unknown as { generation: number; refresh: () => Promise<void> };
    const held: { done: () => void; copy: Buffer; parts: readonly Buffer[] }[] = [];
    for (let round = 0; round < 24; round++) {
      const kind = round % 6;
      if (kind === 0) views = views.map((v) => view(v.target, v.facts.docker?.apiUp ?? true));
      else if (kind === 1)
        views = views.map((v, j) => (j === round % views.length ? view(v.target, false) : v));
      else if (kind === 2)
        views = [...views, view(user(999, (views[3] as View).target.name), true)];
      else if (kind === 3) views = views.filter((v) => v.target.uid !== 10_999);
      else if (kind === 4) views = views.filter((_, j) => j !== 7);
      else {
        views = [...views.slice(0, 7), view(targets[7] as Target, true), ...views.slice(7)];
        failing = failing === undefined ? "user5" : undefined;
      }
      samples = samplesOf(views, failing);
      state.generation++;
      await state.refresh();
      // An answer that takes this body and writes it later (every other round).
      const served = renderer.serve();
      const parts = (await served.body) as readonly Buffer[];
      if (round % 2 === 0) held.push({ done: served.done, copy: Buffer.concat(parts), parts });
      const fresh = new MetricsRenderer({ samples, exporterMetrics: false, coalesceMs: 0 });
      cleanups.push(() => fresh.stop());
      const want = await bodyOf(fresh);
      expect(Buffer.concat(parts).equals(want), `round ${round}`).toBe(true);
      if (round % 2 !== 0) served.done();
      // Bodies still held: every byte as it was handed out.
      for (const h of held) expect(Buffer.concat(h.parts).equals(h.copy)).toBe(true);
      if (held.length > 3) held.shift()?.done();
    }
    const everHeld = held.flatMap((h) => h.parts);
    for (const h of held.splice(0)) h.done();
    // The freeing did happen (a test of nothing otherwise): blocks no body serves read empty.
    const now = new Set(await renderer.body());
    expect(everHeld.some((part) => !now.has(part) && part.length === 0)).toBe(true);
    const internal = renderer as unknown as { holds: Map<unknown, number>; retired: Buffer[] };
    expect(internal.holds.size).toBe(0);
    expect(internal.retired.length).toBe(0);
  });
});
