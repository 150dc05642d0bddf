import { describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import { ChunkCache } from "../../src/exporter/render/chunk-cache.js";
import { runFields } from "../../src/exporter/render/user-chunk.js";
import type { CollectorState } from "../../src/exporter/schedule/ledger.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import { healthy, renderInput, user, view, whole } from "../helpers/render-input.js";

// The incremental rendering (user chunks put together) against the whole one it replaces.

const collectors: CollectorState[] = [
  {
    name: "docker",
    scope: "user",
    intervalSeconds: 15,
    ok: true,
    error: undefined,
    lastRunAt: 1,
    durationSeconds: 0.002,
    lastSuccessAt: 1,
    errorsTotal: 3,
    runs: 9,
  },
];

const input = (views: readonly TargetView<FactsByCollector>[]) =>
  renderInput(views, { collectors });

describe("SnapshotRenderer", () => {
  it("writes what the whole rendering writes, and renders only the users whose facts changed", async () => {
    const renderer = new SnapshotRenderer();
    const targets = [user("alice", 1000), user("bob", 1001), user('c"d\\e', 1002)];
    const views = targets.map((t, i) => view(t, healthy, i !== 1));
    let samples = input(views);
    expect((await renderer.render(samples)).toString()).toBe(whole(samples));
    expect(renderer.last).toEqual({ rendered: 3, whole: false });

    // Same objects: nothing is rendered again, the output is the same.
    expect((await renderer.render(samples)).toString()).toBe(whole(samples));
    expect(renderer.last).toEqual({ rendered: 0, whole: false });

    // bob's docker facts change (a new object), and bob is complete now.
    const docker = { ...healthy.docker, dockerdUp: false, apiUp: false };
    samples = input([views[0]!, view(targets[1]!, { ...healthy, docker }), views[2]!]);
    expect((await renderer.render(samples)).toString()).toBe(whole(samples));
    expect(renderer.last).toEqual({ rendered: 1, whole: false });

    // A user gone, one new: the new one only.
    samples = input([views[0]!, view(user("zoe", 1003)), views[2]!]);
    expect((await renderer.render(samples)).toString()).toBe(whole(samples));
    expect(renderer.last).toEqual({ rendered: 1, whole: false });
  });

  it("keeps a host series once, the first user's, however many users carry it", async () => {
    const other = { ...healthy.kernel, sysctls: { "user.max_user_namespaces": 1 } };
    const samples = input([
      view(user("alice", 1000), { ...healthy, kernel: other }),
      view(user("bob", 1001)),
    ]);
    const text = (await new SnapshotRenderer().render(samples)).toString();
    expect(text).toBe(whole(samples));
    expect(text.match(/^rootless_sysctl_value\{sysctl="user.max_user_namespaces"/gm)).toHaveLength(
      1,
    );
  });

  it("renders everything whole when two users share a name, with the same output", async () => {
    const renderer = new SnapshotRenderer();
    const samples = input([view(user("alice", 1000)), view(user("alice", 1001))]);
    expect((await renderer.render(samples)).toString()).toBe(whole(samples));
    expect(renderer.last.whole).toBe(true);
  });

  it("writes the host checks when nobody is watched, and the bare minimum with nothing known", async () => {
    const samples = { ...input([]), hostFindings: undefined, collectors: [] };
    expect((await new SnapshotRenderer().render(samples)).toString()).toBe(whole(samples));
    const empty = input([view(user("alice", 1000), {}, false)]);
    expect((await new SnapshotRenderer().render(empty)).toString()).toBe(whole(empty));
  });

  it("lets the event loop in between slices of sliceMs, and not at all within one", async () => {
    const samples = input([view(user("alice", 1000)), view(user("bob", 1001))]);
    const turnsDuring = async (renderer: SnapshotRenderer): Promise<number> => {
      let turns = 0;
      let done = false;
      const tick = (): void => {
        if (done) return;
        turns++;
        setImmediate(tick);
      };
      setImmediate(tick);
      await renderer.render(samples);
      done = true;
      return turns;
    };
    expect(await turnsDuring(new SnapshotRenderer(Number.POSITIVE_INFINITY))).toBe(0);
    expect(await turnsDuring(new SnapshotRenderer(0))).toBeGreaterThan(2);
  });

  it("keeps a user's part as bytes and a typed index, and equal shared series once for all users", () => {
    // Objects per line or run cost 76.6 MiB of live heap at 10,000 users (docs/performance.md).
    const cache = new ChunkCache();
    const chunks = [user("amy", 2001), user("bob", 2002), user("cid", 2003)].map((target) =>
      cache.chunkOf(view(target)),
    );
    for (const chunk of chunks) {
      expect(chunk.runs).toBeInstanceOf(Uint32Array);
      expect(chunk.runs.length).toBeGreaterThan(10 * runFields);
      expect(chunk.shared.series.length).toBeGreaterThan(0);
      // The same host facts: one list of shared series for all three.
      expect(chunk.shared).toBe(chunks[0]!.shared);
    }
    const other = { ...healthy.kernel, sysctls: { "user.max_user_namespaces": 1 } };
    const odd = cache.chunkOf(view(user("dan", 2004), { ...healthy, kernel: other }));
    expect(odd.shared).not.toBe(chunks[0]!.shared);
  });
});
