import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserCollector } from "../../src/collectors/collector.js";
import { HostState } from "../../src/collectors/state.js";
import type { SubidFacts } from "../../src/collectors/subid/subid.js";
import { subidCollector } from "../../src/collectors/subid/subid.js";
import { Scheduler } from "../../src/exporter/schedule/scheduler.js";
import type { Target } from "../../src/host/target.js";

// The helper "steady": subid's key is made from the host's part escaped once a cycle, not once a
// user. It must stay the very string it was, JSON.stringify([hostPart, uid, name]) (a key that
// changes brings every user a full run after an upgrade): its canonical JSON, unchanged by a
// parse and a stringify, whatever the user's name holds.
describe("steady: subid's key is the same string, made once a cycle", () => {
  let base: string;
  const keys: (string | undefined)[] = [];
  const targets: Target[] = ["alice", 'bo"b\\\u2028\u0001é', "c"].map((name, i) => ({
    name,
    uid: 3000 + i,
    gid: 3000 + i,
    groups: [3000 + i],
    home: `/home/u${i}`,
    runtimeDir: `/run/user/${3000 + i}`,
  }));
  let scheduler: Scheduler<{ subid: SubidFacts }>;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "rootless-exporter-steady-keys-"));
    const etc = join(base, "root", "etc");
    mkdirSync(etc, { recursive: true });
    mkdirSync(join(base, "proc", "self"), { recursive: true });
    const passwd = targets.map((t) => `${t.name}:x:${t.uid}:${t.gid}::${t.home}:/bin/sh\n`);
    writeFileSync(join(etc, "passwd"), passwd.join(""));
    writeFileSync(join(etc, "subuid"), "alice:100000:65536\n");
    writeFileSync(join(etc, "subgid"), "alice:100000:65536\n");
    writeFileSync(join(base, "proc", "self", "uid_map"), "0 0 4294967295\n");
    writeFileSync(join(base, "proc", "self", "gid_map"), "0 0 4294967295\n");
    const real = subidCollector as UserCollector<SubidFacts>;
    const inputs = real.inputs;
    if (!inputs) throw new Error("subid has a key");
    const seen: UserCollector<SubidFacts> = {
      ...real,
      inputs: async (ctx, again) => {
        const key = await inputs(ctx, again);
        keys.push(key);
        return key;
      },
    };
    scheduler = new Scheduler<{ subid: SubidFacts }>({
      collectors: { subid: seen },
      settings: [{ name: "subid", enabled: true, intervalSeconds: 15 }],
      roots: { procfs: join(base, "proc"), sysfs: join(base, "sys"), rootfs: join(base, "root") },
      targets: { wants: () => false, resolve: async () => targets },
      host: new HostState(),
      timeoutMs: 5000,
      rpcTimeoutMs: 200,
      collectorOptions: {},
      env: {},
      log: pino({ level: "silent" }),
      trigger: () => ({ stop: () => undefined }),
    });
  });
  afterAll(async () => {
    await scheduler.stop();
    rmSync(base, { recursive: true, force: true });
  });

  it("is JSON.stringify([hostPart, uid, name]) for every user", async () => {
    await scheduler.runAll();
    keys.length = 0;
    await scheduler.runAll();
    expect(keys).toHaveLength(targets.length);
    for (const key of keys) {
      expect(typeof key).toBe("string");
      const [hostPart, uid, name] = JSON.parse(key ?? "") as [string, number, string];
      expect(JSON.stringify([hostPart, uid, name])).toBe(key);
      expect((JSON.parse(hostPart) as unknown[])[0]).toBe("subid");
      const target = targets.find((t) => t.uid === uid);
      expect(name).toBe(target?.name);
    }
  });
});
