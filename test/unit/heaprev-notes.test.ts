import { describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { exposition } from "../../src/exporter/render/exposition.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import { samplesFrom } from "../../src/exporter/render/samples.js";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";
import { SharedFacts } from "../../src/exporter/schedule/shared-facts.js";

// From the hostile review of the kept facts and the parts (heaprev): the ledger's copy of a
// collector's facts (shared-facts.ts ownShape) keeps a frozen object frozen and states what a
// copy of plain data drops; the parts a rendering hands out are the caller's own array. A slot's
// state is the slot, written in place (ledger.ts says so): nothing keeps one across a run.

const kept = <F>(facts: F): F => new SharedFacts<F>().share(facts);

describe("facts kept as a copy", () => {
  it("frozen facts stay frozen once kept", () => {
    const facts = Object.freeze({ a: 1, b: Object.freeze({ c: 2 }) });
    expect(Object.isFrozen(kept(facts))).toBe(true);
  });

  it("a getter is read once into a value; non-enumerable and symbol keys are not kept (plain data)", () => {
    let reads = 0;
    const symbol = Symbol("s");
    const facts = {
      get counted() {
        return ++reads;
      },
      [symbol]: 1,
    };
    Object.defineProperty(facts, "hidden", { value: 1, enumerable: false });
    const copy = kept(facts) as typeof facts & { hidden?: number };
    expect(Object.getOwnPropertyDescriptor(copy, "counted")?.value).toBe(1);
    expect(copy.counted).toBe(1);
    expect(reads).toBe(1);
    expect(copy.hidden).toBeUndefined();
    expect(copy[symbol]).toBeUndefined();
  });
});

describe("the parts renderParts hands out", () => {
  it("a caller reordering the array it was given does not change the next rendering", async () => {
    const renderer = new SnapshotRenderer(0);
    const r = renderer as unknown as { renderParts?: (s: SamplesInput) => Promise<Buffer[]> };
    const healthy = healthyFacts();
    const views = ["amy", "bob", "cat"].map(
      (name, i) =>
        ({
          target: { ...alice, name, uid: 9000 + i },
          facts: healthy,
          complete: true,
          errors: [],
        }) as TargetView<FactsByCollector>,
    );
    const samples = (vs: TargetView<FactsByCollector>[]): SamplesInput => ({
      collectors: [],
      views: vs,
      host: { kernel: healthy.kernel },
      hostFindings: [],
      mode: "host",
      userRuns: [],
      build: { version: "0.0.0", nodejsVersion: "v20" },
    });
    if (!r.renderParts) return; // main: one buffer, nothing handed out twice
    const first = await r.renderParts(samples(views));
    expect(first.length).toBeGreaterThan(2);
    first.reverse(); // e.g. a caller that builds its own list in place
    const changed = [{ ...views[0]!, complete: false }, views[1]!, views[2]!];
    const body = Buffer.concat(await r.renderParts(samples(changed))).toString();
    expect(body).toBe(exposition(samplesFrom(samples(changed))));
  });
});
