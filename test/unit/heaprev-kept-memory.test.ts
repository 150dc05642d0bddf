import { describe, expect, it } from "vitest";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// heaprev: what the renderer keeps must stay bounded by the users watched now, whatever path
// the rendering takes (the whole one included: two users of one name, a foreign series).

const healthy = healthyFacts();
const user = (name: string, uid: number): Target => ({
  ...alice,
  name,
  uid,
  gid: uid,
  groups: [uid],
  home: `/home/${name}`,
  runtimeDir: `/run/user/${uid}`,
});
const view = (target: Target) =>
  ({ target, facts: healthy, complete: true, errors: [] }) as TargetView<FactsByCollector>;
const input = (views: TargetView<FactsByCollector>[]): SamplesInput => ({
  collectors: [],
  views,
  host: { kernel: healthy.kernel },
  hostFindings: [],
  mode: "host",
  userRuns: [],
  build: { version: "0.0.0", nodejsVersion: "v20" },
});
const cached = (renderer: SnapshotRenderer): number =>
  (renderer as unknown as { chunks: { size: number } }).chunks.size;

describe("heaprev: the chunk cache stays bounded", () => {
  it("while two users share a name (every rendering whole), a user's target replaced 50 times", async () => {
    const renderer = new SnapshotRenderer(0);
    let amy = user("amy", 2001);
    const others = [user("bob", 2002), user("cat", 2003)];
    // A second "cat" (another uid): every rendering goes the whole way, sweep is never reached.
    const twin = user("cat", 2999);
    for (let round = 0; round < 50; round++) {
      // The roster gives amy a new Target object (her runtime dir moved with her rootlesskit).
      amy = { ...amy, runtimeDir: `/run/user/2001/r${round % 2}` };
      await renderer.render(input([view(amy), ...others.map(view), view(twin)]));
    }
    expect(renderer.last.whole).toBe(true);
    // Three users looked at before the twin: at most a few chunks, not one per target ever seen.
    expect(cached(renderer)).toBeLessThanOrEqual(4);
  });

  it("once no two users share a name, the users gone are forgotten", async () => {
    const renderer = new SnapshotRenderer(0);
    for (let round = 0; round < 30; round++)
      await renderer.render(input([view(user(`u${round}`, 3000 + round)), view(user("z", 1))]));
    expect(cached(renderer)).toBeLessThanOrEqual(2);
  });
});
