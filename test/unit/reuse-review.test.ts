import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DockerFacts } from "../../src/collectors/docker/docker.js";
import { dockerCollector } from "../../src/collectors/docker/docker.js";
import type { NetworkFacts } from "../../src/collectors/network/network.js";
import { networkCollector } from "../../src/collectors/network/network.js";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { Roster } from "../../src/exporter/schedule/roster.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { Target } from "../../src/host/target.js";
import { firstMissing, requireOnCi, withReason } from "../helpers/prerequisites.js";

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

const missing = firstMissing([process.getuid?.() === 0, "needs root (files of another uid)"]);

describe.skipIf(requireOnCi(missing))(
  withReason("two accounts sharing a uid (needs root)", missing),
  () => {
    const uid = 61_951;
    let base: string;
    let scheduler: Scheduler<{ network: NetworkFacts; docker: DockerFacts }>;
    const mkdirOwn = (path: string): void => {
      mkdirSync(path, { mode: 0o700 });
      lchownSync(path, uid, uid);
    };
    const account = (name: string): Target => ({
      name,
      uid,
      gid: uid,
      groups: [uid],
      home: join(base, name),
      runtimeDir: join(base, "run"),
    });

    beforeAll(() => {
      base = mkdtempSync(join(tmpdir(), "rootless-exporter-shared-uid-"));
      chmodSync(base, 0o755);
      mkdirSync(join(base, "proc"));
      const first = account("first");
      mkdirOwn(first.home);
      for (const dir of [".config", ".config/systemd", ".config/systemd/user"])
        mkdirOwn(join(first.home, dir));
      const unit = join(first.home, ".config/systemd/user/docker.service");
      writeFileSync(unit, "[Service]\nEnvironment=DOCKERD_ROOTLESS_ROOTLESSKIT_NET=pasta\n");
      lchownSync(unit, uid, uid);
      mkdirOwn(account("second").home);
      scheduler = new Scheduler({
        collectors: { network: networkCollector, docker: dockerCollector },
        settings: ["network", "docker"].map((name) => ({
          name,
          enabled: true,
          intervalSeconds: 15,
        })),
        roots: { procfs: join(base, "proc"), sysfs: join(base, "sys"), rootfs: "/" },
        // --target.user first,second: two passwd lines with one uid (an alias, a shared account).
        targets: {
          wants: (u) => u === uid,
          resolve: () => Promise.resolve([account("first"), account("second")]),
        },
        host: new HostState(),
        timeoutMs: 5000,
        rpcTimeoutMs: 200,
        collectorOptions: {},
        env: {},
        log: silent,
        trigger: () => ({ stop: () => undefined }),
      });
    });
    afterAll(async () => {
      await scheduler.stop();
      rmSync(base, { recursive: true, force: true });
    });

    it("reads each account's own docker.service, in its own home, in every cycle", async () => {
      // The second account's key says its unit is missing: its facts must agree, whichever
      // account's collection reads first, and so must the first's.
      for (let i = 0; i < 3; i++) {
        await scheduler.runAll();
        const views = Object.fromEntries(
          scheduler.targetViews().map((view) => [view.target.name, view.facts]),
        );
        expect(views["first"]?.network).toMatchObject({ configured: { driver: "pasta" } });
        expect(views["second"]?.network).not.toHaveProperty("configured");
      }
    });
  },
);
