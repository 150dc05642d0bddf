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

// Issue 19: the subid collector's key. A user's facts are served again while /etc/passwd,
// /etc/subuid and /etc/subgid keep their identities (the index is not parsed again either),
// nsswitch.conf names the files and the exporter's id maps read the same; any change of these
// brings a full run and the new facts, and a module or an index not kept gives no key at all.
describe("subid: reuse of a user's facts", () => {
  let base: string;
  let etc: string;
  let full = 0;
  let scheduler: Scheduler<{ subid: SubidFacts }>;
  const target: Target = {
    name: "alice",
    uid: 3000,
    gid: 3000,
    groups: [3000],
    home: "/home/alice",
    runtimeDir: "/run/user/3000",
  };
  const cycle = async (): Promise<number> => {
    const before = full;
    await scheduler.runAll();
    return full - before;
  };
  const facts = (): SubidFacts | undefined => scheduler.targetViews()[0]?.facts.subid;
  const subuid = (text: string): void => writeFileSync(join(etc, "subuid"), text);

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "rootless-exporter-reuse-subid-"));
    etc = join(base, "root", "etc");
    mkdirSync(etc, { recursive: true });
    mkdirSync(join(base, "proc", "self"), { recursive: true });
    writeFileSync(join(etc, "passwd"), "alice:x:3000:3000::/home/alice:/bin/sh\n");
    subuid("alice:100000:65536\n");
    writeFileSync(join(etc, "subgid"), "alice:100000:65536\n");
    writeFileSync(join(base, "proc", "self", "uid_map"), "0 0 4294967295\n");
    writeFileSync(join(base, "proc", "self", "gid_map"), "0 0 4294967295\n");
    const real = subidCollector as UserCollector<SubidFacts>;
    const counted: UserCollector<SubidFacts> = {
      ...real,
      collect: (ctx) => {
        full += 1;
        return real.collect(ctx);
      },
    };
    scheduler = new Scheduler<{ subid: SubidFacts }>({
      collectors: { subid: counted },
      settings: [{ name: "subid", enabled: true, intervalSeconds: 15 }],
      roots: {
        procfs: join(base, "proc"),
        sysfs: join(base, "sys"),
        rootfs: join(base, "root"),
      },
      targets: { wants: () => false, resolve: async () => [target] },
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

  it("serves the same facts while nothing changed, and sees each input change", async () => {
    expect(await cycle()).toBe(1);
    const first = facts();
    expect(first?.uid.summary).toMatchObject({ size: 65536, ranges: 1 });
    expect(await cycle()).toBe(0);
    expect(facts()).toBe(first);

    // /etc/subuid rewritten (another size): parsed again, a full run, the new ranges.
    subuid("alice:100000:65536\nalice:300000:1000\n");
    expect(await cycle()).toBe(1);
    expect(facts()?.uid.summary).toMatchObject({ size: 66536, ranges: 2 });
    expect(await cycle()).toBe(0);

    // The exporter's own id map changed: a full run (the outside-parent figures depend on it).
    writeFileSync(join(base, "proc", "self", "uid_map"), "0 0 200000\n");
    expect(await cycle()).toBe(1);
    expect(facts()?.answer.uid).toMatchObject({ outsideParent: 1000 });
    expect(await cycle()).toBe(0);

    // nsswitch.conf names a module: getsubids' answers, no key (a full run every cycle).
    writeFileSync(join(etc, "nsswitch.conf"), "subid: sss\n");
    expect(await cycle()).toBe(1);
    expect(await cycle()).toBe(1);
    rmSync(join(etc, "nsswitch.conf"));
    expect(await cycle()).toBe(1);
    expect(await cycle()).toBe(0);

    // /etc/subgid gone: the index is not kept (no identity), every cycle a full run.
    rmSync(join(etc, "subgid"));
    expect(await cycle()).toBe(1);
    expect(facts()?.gid.state).toBe("missing");
    expect(await cycle()).toBe(1);
    writeFileSync(join(etc, "subgid"), "alice:100000:65536\n");
    expect(await cycle()).toBe(1);
    expect(facts()?.gid.summary).toMatchObject({ size: 65536 });
    expect(await cycle()).toBe(0);
  });
});
