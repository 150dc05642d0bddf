import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { Roster } from "../../src/exporter/schedule/roster.js";
import type { Target } from "../../src/host/target.js";

// Review of issue 19's reuse (an idle user's last facts served while their inputs key is the
// same): what the key names must be what the collection reads, for every account.

const silent = pino({ level: "silent" });

describe("the roster and a home that moved", () => {
  it("gives the collectors the home passwd names now, not the one the user was first watched with", async () => {
    const before: Target = {
      name: "mover",
      uid: 61_950,
      gid: 61_950,
      groups: [61_950],
      home: "/home/mover",
      runtimeDir: "/run/user/61950",
    };
    let current = before;
    const roster = new Roster(
      { wants: () => true, resolve: () => Promise.resolve([current]) },
      silent,
      undefined,
    );
    const host = new HostState();
    await roster.update(new Cycle(() => true), host, () => undefined);
    // `usermod -d /srv/mover -m mover`: the old path is gone, the new one is what counts.
    current = { ...before, home: "/srv/mover" };
    await roster.update(new Cycle(() => true), host, () => undefined);
    expect(roster.targets()[0]?.home).toBe("/srv/mover");
    roster.stop();
  });
});
