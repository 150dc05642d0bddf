import { describe, expect, it } from "vitest";
import { SnapshotRenderer } from "../../src/exporter/render/snapshot.js";
import { SuccessLines } from "../../src/exporter/render/success-lines.js";
import { MetricOrdinals } from "../../src/exporter/render/user-chunk.js";
import type { Target } from "../../src/host/target.js";
import { random, renderInput, user, view, whole } from "../helpers/render-input.js";

// The rootless_collector_user_success lines kept as bytes per collector (success-lines.ts): a
// collector's run is made again only when its (user, outcome) list changed, and the body is byte
// for byte the whole rendering's whatever the lists do.

type Run = { collector: string; user: string; ok: boolean };
const input = (targets: readonly Target[], userRuns: readonly Run[]) =>
  renderInput(
    targets.map((target) => view(target)),
    { userRuns },
  );

const runs = (collectors: readonly string[], users: readonly string[], ok = true): Run[] =>
  collectors.flatMap((collector) => users.map((u) => ({ collector, user: u, ok })));

describe("rootless_collector_user_success as bytes", () => {
  it("reuses a collector's run while its list is the same, and only that collector's", () => {
    const lines = new SuccessLines(new MetricOrdinals());
    const first = lines.runsOf(runs(["docker", "dbus"], ["amy", "bøb"]))!;
    expect(first).toHaveLength(2);
    // The same list again, as new objects: the same runs, nothing made.
    expect(lines.runsOf(runs(["docker", "dbus"], ["amy", "bøb"]))).toEqual(first);
    const again = lines.runsOf(runs(["docker", "dbus"], ["amy", "bøb"]))!;
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    // One outcome flips in dbus: docker's run kept, dbus's made again.
    const flipped = runs(["docker", "dbus"], ["amy", "bøb"]);
    flipped[3] = { collector: "dbus", user: "bøb", ok: false };
    const after = lines.runsOf(flipped)!;
    expect(after[0]).toBe(first[0]);
    expect(after[1]).not.toBe(first[1]);
    expect(Buffer.concat(after[1]!.parts).toString()).toContain('{collector="dbus",user="bøb"} 0');
    // A user gone from docker: made again.
    expect(lines.runsOf(runs(["docker"], ["amy"]))![0]).not.toBe(first[0]);
  });

  it("makes no bytes of a list naming a user twice (merged line by line instead)", () => {
    const lines = new SuccessLines(new MetricOrdinals());
    expect(lines.runsOf(runs(["docker"], ["amy", "amy"]))).toBeUndefined();
    // A collector in two groups could name one user in both.
    const split = [...runs(["docker", "dbus"], ["amy"]), ...runs(["docker"], ["bøb"])];
    expect(lines.runsOf(split)).toBeUndefined();
    expect(lines.runsOf([])).toEqual([]);
  });

  it("renders the whole rendering's bytes over 60 renderings of outcomes flipping, users leaving and coming", async () => {
    const next = random(7);
    const renderer = new SnapshotRenderer();
    const names = ["amy", "bøb", "用户", 'c"d\\e', "dan", "eve", "fay", "gus"];
    const targets = new Map(names.map((name, i) => [name, user(name, 2000 + i)]));
    const collectors = ["docker", "dbus", "network"];
    let bodies = 0;
    for (let round = 0; round < 60; round++) {
      const present = names.filter(() => next() < 0.8);
      const userRuns: Run[] = [];
      for (const collector of collectors)
        for (const name of present)
          if (next() < 0.9) userRuns.push({ collector, user: name, ok: next() < 0.85 });
      // Now and then a collector lists a user twice (two slots of one name): merged, last wins.
      if (round % 13 === 5 && userRuns.length > 0) userRuns.push({ ...userRuns[0]!, ok: false });
      const samples = input(
        present.map((name) => targets.get(name)!),
        userRuns,
      );
      const body = await renderer.render(samples);
      expect(body.toString()).toBe(whole(samples));
      bodies++;
    }
    expect(bodies).toBe(60);
  });
});
