import { describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import type { MetricKey } from "../../src/exporter/catalogue.js";
import { Assembly } from "../../src/exporter/render/assembly.js";
import { ChunkCache } from "../../src/exporter/render/chunk-cache.js";
import { atOnce } from "../../src/exporter/render/slices.js";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import { runFields } from "../../src/exporter/render/user-chunk.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { healthy, random, renderInput, user, view, whole } from "../helpers/render-input.js";

// Users' parts kept as bytes in the last body (assembly.ts): an unchanged user's lines are copied
// from the body being served, so a part that went stale or pointed at the wrong bytes would show
// here as a body that differs from the whole rendering's.

const input = (views: readonly TargetView<FactsByCollector>[]) => renderInput(views);

describe("users' parts as bytes", () => {
  it("keeps each run in the body it was last copied into, not a second time beside it", () => {
    const cache = new ChunkCache();
    const chunks = [user("amy", 2001), user("bøb", 2002)].map((t) => cache.chunkOf(view(t)));
    const own = chunks[0]!.parts;
    const assembly = new Assembly(cache.ordinals);
    for (const chunk of chunks) assembly.addChunk(chunk);
    const body = atOnce(assembly.toParts());
    for (const chunk of chunks) {
      // The very buffers served, in a table of the chunks' own (the caller gets a copy of it).
      expect(chunk.parts).not.toBe(body);
      expect(chunk.parts.length).toBe(body.length);
      chunk.parts.forEach((part, i) => expect(part).toBe(body[i]));
      for (let at = 0; at < chunk.runs.length; at += runFields) {
        const block = chunk.bufferOf(at);
        expect(body).toContain(block);
        const run = block.subarray(chunk.runs[at + 1], chunk.runs[at + 2]).toString();
        expect(run).toMatch(/^\n/);
        // Every line of the run is the chunk's user's (a multi-byte name: byte offsets).
        for (const line of run.slice(1).split("\n")) expect(line).toMatch(/user="(amy|bøb)"/);
      }
    }
    // The chunk's own buffer is no longer held by the chunk.
    expect(chunks[0]!.parts).not.toBe(own);
  });

  it("keeps a block that did not change as the very buffer of the last rendering", () => {
    const cache = new ChunkCache();
    const last = new Map<MetricKey, Buffer>();
    const sizes = new Map<MetricKey, number>();
    const render = (views: ReturnType<typeof view>[]): Buffer[] => {
      const assembly = new Assembly(cache.ordinals, sizes, last);
      for (const v of views) assembly.addChunk(cache.chunkOf(v));
      return atOnce(assembly.toParts());
    };
    const [amy, bob] = [view(user("amy", 2001)), view(user("bøb", 2002))];
    const first = render([amy, bob]);
    const again = render([amy, bob]);
    expect(again).toHaveLength(first.length);
    for (let k = 0; k < first.length; k++) expect(again[k]).toBe(first[k]);
    // Another user: every block with a line of theirs is new, its bytes those of a whole rendering.
    const third = render([amy, view(user("cy", 2003)), bob]);
    expect(third.filter((part, k) => part !== first[k]).length).toBeGreaterThan(0);
    expect(Buffer.concat(third).toString()).toContain('user="cy"');
    expect(Buffer.concat(render([amy, bob])).equals(Buffer.concat(first))).toBe(true);
  });

  it("serves no stale or misplaced part over 60 renderings of users changing, leaving and coming", async () => {
    const next = random(19);
    const renderer = new SnapshotRenderer();
    const names = ["amy", "bøb", "用户", 'c"d\\e', "dan", "eve", "fay", "gus", "hal", "ivy"];
    const targets = names.map((name, i) => user(name, 3000 + i));
    let views = targets.map((t) => view(t));
    let renderedTotal = 0;
    for (let round = 0; round < 60; round++) {
      views = views.flatMap((v, i) => {
        const roll = next();
        if (roll < 0.1) return []; // gone
        if (roll < 0.25) {
          const docker = { ...healthy.docker, apiUp: next() < 0.5, dockerdUp: next() < 0.5 };
          return [view(v.target, { ...healthy, docker }, next() < 0.8)];
        }
        if (roll < 0.3) return [view(user(v.target.name, v.target.uid + 100 * (i + 1)))];
        return [v]; // unchanged: the same objects
      });
      // Users come back (or for the first time), at a random place.
      for (const target of targets)
        if (!views.some((v) => v.target.name === target.name) && next() < 0.3)
          views.splice(Math.floor(next() * (views.length + 1)), 0, view(target));
      // Now and then two users of one name: the rendering is whole, the parts are not used.
      const shown =
        next() < 0.1 && views[0] ? [...views, view(user(views[0].target.name, 1))] : views;
      const samples = input(shown);
      expect((await renderer.render(samples)).toString(), `round ${round}`).toBe(whole(samples));
      renderedTotal += renderer.last.rendered;
    }
    // Unchanged users were reused, not rendered again each time.
    expect(renderedTotal).toBeLessThan(60 * names.length * 0.6);
  });

  it("renders one rendering after the other when asked twice at once, each one right", async () => {
    // The second asked for at every moment of the first: interleaved, the first would move the
    // runs of users unchanged in both (a third of them) under the second's copy.
    const targets = Array.from({ length: 100 }, (_, i) => user(`u${i}`, 4000 + i));
    const views = targets.map((t) => view(t));
    const docker = { ...healthy.docker, apiUp: false };
    const changed = (third: number) =>
      input(
        views.map((v, i) => (i % 3 === third ? view(v.target, { ...healthy, docker }, false) : v)),
      );
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    for (let wait = 0; wait <= 400; wait += 40) {
      const renderer = new SnapshotRenderer(0);
      await renderer.render(input(views));
      const [second, third] = [changed(0), changed(1)];
      const a = renderer.render(second);
      for (let i = 0; i < wait; i++) await turn();
      const b = renderer.render(third);
      expect((await a).toString()).toBe(whole(second));
      expect((await b).toString(), `after ${wait} turns`).toBe(whole(third));
    }
  });
  it("makes each block's arrays at the last rendering's size, and is right whether users came or left", () => {
    const cache = new ChunkCache();
    const sizes = new Map<string, number>();
    const targets = ["amy", "bøb", "用户", "dan"].map((name, i) => user(name, 3001 + i));
    const body = (some: readonly Target[]): string => {
      const assembly = new Assembly(cache.ordinals, sizes as never);
      for (const t of some) assembly.addChunk(cache.chunkOf(view(t)));
      return Buffer.concat(atOnce(assembly.toParts())).toString();
    };
    const plain = (some: readonly Target[]): string => {
      const assembly = new Assembly(new ChunkCache().ordinals);
      for (const t of some) assembly.addChunk(new ChunkCache().chunkOf(view(t)));
      return Buffer.concat(atOnce(assembly.toParts())).toString();
    };
    expect(body(targets.slice(0, 2))).toBe(plain(targets.slice(0, 2)));
    // One part per user in the users' info block: its size kept for the next rendering.
    expect(sizes.get("targetInfo")).toBe(2);
    expect(body(targets)).toBe(plain(targets));
    expect(sizes.get("targetInfo")).toBe(4);
    expect(body(targets.slice(3))).toBe(plain(targets.slice(3)));
    expect(sizes.get("targetInfo")).toBe(1);
  });
});
