import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HostContext, UserContext } from "../../src/collectors/collector.js";
import { HostState, TargetState } from "../../src/collectors/state.js";
import { dbusCollector } from "../../src/collectors/dbus/dbus.js";
import type { UnitFact } from "../../src/collectors/dbus/dbus.js";
import { lingerCollector } from "../../src/collectors/linger/linger.js";
import { busPing, DbusCallError, DbusClient } from "../../src/host/dbus.js";
import type { Target } from "../../src/host/target.js";
import type { PrivateBus } from "../helpers/dbus.js";
import { collectorContext } from "../helpers/context.js";
import { Login1Double, startPrivateBus, Systemd1Double } from "../helpers/dbus.js";

// Real dbus-daemon instances with dbus-next test doubles of logind and the systemd user manager:
// the exporter's own client code talks real D-Bus.
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-dbus-"));
const uid = process.getuid?.() ?? 0;
const target: Target = {
  name: "alice",
  uid,
  gid: uid,
  home: "/home/alice",
  groups: [],
  runtimeDir: join(dir, "run"),
};
const rootfs = join(dir, "root");
mkdirSync(join(rootfs, "var/lib/systemd/linger"), { recursive: true });
mkdirSync(target.runtimeDir, { recursive: true });

// Connections live as long as the host and target state that own them, as in the exporter.
const host = new HostState();
const state = new TargetState(undefined);

function context(env: Record<string, string>, rpcTimeoutMs = 300): UserContext & HostContext {
  const roots = { procfs: "/proc", sysfs: "/sys", rootfs };
  return collectorContext(roots, target, {
    env,
    rpcTimeoutMs,
    collector: dbusCollector,
    host,
    state,
  });
}

describe("DbusClient on a real dbus-daemon", () => {
  let bus: PrivateBus;
  let client: DbusClient;
  beforeAll(async () => {
    bus = await startPrivateBus(dir, "client");
    client = new DbusClient(bus.address);
  });
  afterAll(async () => {
    client.close();
    await bus.stop();
  });

  it("pings the bus and reuses the connection", async () => {
    expect(await client.call(busPing, 1000)).toEqual([]);
    expect(await client.call(busPing, 1000)).toEqual([]);
  });

  it("times out on a peer that never answers, without blocking other calls", async () => {
    const login1 = new Login1Double();
    login1.hang = true;
    await login1.serve(bus.address);
    try {
      const started = performance.now();
      const hung = client.call(
        {
          destination: "org.freedesktop.login1",
          path: "/org/freedesktop/login1",
          interface: "org.freedesktop.login1.Manager",
          member: "GetUser",
          signature: "u",
          body: [1000],
        },
        300,
      );
      expect(await client.call(busPing, 1000)).toEqual([]);
      await expect(hung).rejects.toMatchObject({ name: "rootless_exporter.Timeout" });
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      login1.stop();
    }
  });

  it("rejects at once when the bus goes away, and reconnects when it is back", async () => {
    const own = await startPrivateBus(dir, "flaky");
    const flaky = new DbusClient(own.address);
    try {
      expect(await flaky.call(busPing, 1000)).toEqual([]);
      await own.stop();
      const err = await flaky.call(busPing, 5000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DbusCallError);
      const back = await startPrivateBus(dir, "flaky");
      try {
        expect(await flaky.call(busPing, 1000)).toEqual([]);
      } finally {
        await back.stop();
      }
    } finally {
      flaky.close();
    }
  });

  it("a socket that accepts and never speaks D-Bus: each call times out and reconnects afresh", async () => {
    const path = join(dir, "mute.sock");
    const held: Socket[] = [];
    const mute = createServer((conn) => void held.push(conn));
    await new Promise<void>((resolve) => mute.listen(path, resolve));
    const client = new DbusClient(`unix:path=${path}`);
    try {
      await expect(client.call(busPing, 200)).rejects.toMatchObject({
        name: "rootless_exporter.Timeout",
      });
      await expect(client.call(busPing, 200)).rejects.toMatchObject({
        name: "rootless_exporter.Timeout",
      });
      expect(held.length).toBe(2);
    } finally {
      client.close();
      for (const conn of held) conn.destroy();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
    }
  });

  it("fails fast on a socket that does not exist", async () => {
    const missing = new DbusClient(`unix:path=${join(dir, "nothing.sock")}`);
    await expect(missing.call(busPing, 1000)).rejects.toBeInstanceOf(DbusCallError);
    missing.close();
  });
});

describe("linger collector against a logind double", () => {
  let system: PrivateBus;
  const login1 = new Login1Double();
  beforeAll(async () => {
    system = await startPrivateBus(dir, "system");
    await login1.serve(system.address);
  });
  afterAll(async () => {
    login1.stop();
    host.stop();
    await system.stop();
  });
  afterEach(() => {
    login1.hang = false;
    login1.otherPaths = false;
    login1.linger.clear();
  });

  it.each([
    [true, { enabled: true, source: "logind" }],
    [false, { enabled: false, source: "logind" }],
  ])("User.Linger %s", async (linger, expected) => {
    login1.linger.set(uid, linger);
    expect(
      await lingerCollector.collect(context({ DBUS_SYSTEM_BUS_ADDRESS: system.address })),
    ).toEqual(expected);
  });

  it("follows the path GetUser answers when it is not logind's usual _UID", async () => {
    login1.otherPaths = true;
    login1.linger.set(uid, true);
    expect(
      await lingerCollector.collect(context({ DBUS_SYSTEM_BUS_ADDRESS: system.address })),
    ).toEqual({ enabled: true, source: "logind" });
  });

  it("NoSuchUser means linger off", async () => {
    expect(
      await lingerCollector.collect(context({ DBUS_SYSTEM_BUS_ADDRESS: system.address })),
    ).toEqual({ enabled: false, source: "logind" });
  });

  it("a hung logind falls back to the linger file within the timeout", async () => {
    login1.hang = true;
    writeFileSync(join(rootfs, "var/lib/systemd/linger/alice"), "");
    try {
      const facts = await lingerCollector.collect(
        context({ DBUS_SYSTEM_BUS_ADDRESS: system.address }),
      );
      expect(facts).toMatchObject({ enabled: true, source: "file" });
      expect(facts.logindError).toMatch(/no answer within 300 ms/);
    } finally {
      rmSync(join(rootfs, "var/lib/systemd/linger/alice"));
    }
  });

  it("no system bus at all: the file answers", async () => {
    const facts = await lingerCollector.collect(context({}));
    expect(facts).toMatchObject({ enabled: false, source: "file" });
  });
});

describe("dbus collector against a systemd user manager double", () => {
  let user: PrivateBus;
  const systemd = new Systemd1Double();
  beforeAll(async () => {
    user = await startPrivateBus(dir, "user");
  });
  afterAll(async () => {
    systemd.stop();
    state.stop();
    await user.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("bus up without a user manager: units unknown, not inactive", async () => {
    const facts = await dbusCollector.collect(context({ DBUS_SESSION_BUS_ADDRESS: user.address }));
    expect(facts).toMatchObject({ busUp: true });
    expect(facts.units).toBeUndefined();
  });

  it("reports each unit's ActiveState", async () => {
    await systemd.serve(user.address);
    systemd.states.set("docker.service", "active");
    systemd.states.set("dbus.service", "failed");
    const facts = await dbusCollector.collect(context({ DBUS_SESSION_BUS_ADDRESS: user.address }));
    expect(facts.busUp).toBe(true);
    expect(facts.pingSeconds).toBeGreaterThan(0);
    // No unit file state set: the double answers "" as systemd does for a unit with no file.
    expect(facts.units).toEqual([
      { unit: "docker.service", activeState: "active", restarts: 0 },
      { unit: "dbus.service", activeState: "failed", restarts: 0 },
      { unit: "dbus.socket", activeState: "inactive" },
    ]);
  });

  it("answers under the asked name for an alias (dbus.service -> dbus-broker.service)", async () => {
    systemd.aliases.set("dbus.service", "dbus-broker.service");
    systemd.states.set("dbus-broker.service", "active");
    const loads = systemd.loadUnitCalls;
    try {
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }),
      );
      expect(facts.units).toContainEqual({
        unit: "dbus.service",
        activeState: "active",
        restarts: 0,
      });
      // One ListUnitsByNames answered for all units: no LoadUnit round trips.
      expect(systemd.loadUnitCalls).toBe(loads);
    } finally {
      systemd.aliases.clear();
    }
  });

  it("a manager older than systemd 230: LoadUnit and ActiveState per unit", async () => {
    systemd.legacy = true;
    const loads = systemd.loadUnitCalls;
    try {
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }),
      );
      expect(facts.units).toEqual([
        { unit: "docker.service", activeState: "active", restarts: 0 },
        { unit: "dbus.service", activeState: "failed", restarts: 0 },
        { unit: "dbus.socket", activeState: "inactive" },
      ]);
      expect(systemd.loadUnitCalls).toBe(loads + 3);
    } finally {
      systemd.legacy = false;
    }
  });

  const docker = (facts: { units?: readonly UnitFact[] }) =>
    facts.units?.find((u) => u.unit === "docker.service");

  it.each([
    ["enabled", 2],
    ["disabled", 0],
  ])("reads UnitFileState %s and NRestarts %d of docker.service", async (fileState, restarts) => {
    systemd.fileStates.set("docker.service", fileState);
    systemd.restarts.set("docker.service", restarts);
    systemd.fileStates.set("dbus.socket", "static");
    try {
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }),
      );
      expect(docker(facts)).toEqual({
        unit: "docker.service",
        activeState: "active",
        restarts,
        fileState,
      });
      // A socket has no NRestarts: only services are asked.
      expect(facts.units?.find((u) => u.unit === "dbus.socket")).toEqual({
        unit: "dbus.socket",
        activeState: "inactive",
        fileState: "static",
      });
    } finally {
      systemd.fileStates.clear();
      systemd.restarts.clear();
    }
  });

  it("a manager older than systemd 235 has no NRestarts: left out, never 0", async () => {
    systemd.noNRestarts = true;
    systemd.fileStates.set("docker.service", "enabled");
    try {
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }),
      );
      expect(docker(facts)).toEqual({
        unit: "docker.service",
        activeState: "active",
        fileState: "enabled",
      });
    } finally {
      systemd.noNRestarts = false;
      systemd.fileStates.clear();
    }
  });

  it("Gets that never answer: the states are kept, the properties left out, within the timeout", async () => {
    systemd.hang = "properties";
    systemd.fileStates.set("docker.service", "enabled");
    try {
      const started = performance.now();
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }, 300),
      );
      expect(performance.now() - started).toBeLessThan(1500);
      expect(facts.units).toEqual([
        { unit: "docker.service", activeState: "active" },
        { unit: "dbus.service", activeState: "failed" },
        { unit: "dbus.socket", activeState: "inactive" },
      ]);
    } finally {
      systemd.hang = "none";
      systemd.fileStates.clear();
    }
  });

  it("a manager that never answers: units unknown within the timeout, the bus still up", async () => {
    systemd.hang = "all";
    try {
      const started = performance.now();
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }, 300),
      );
      expect(performance.now() - started).toBeLessThan(1500);
      expect(facts).toMatchObject({ busUp: true, error: expect.stringMatching(/300 ms/) });
      expect(facts.units).toBeUndefined();
    } finally {
      systemd.hang = "none";
    }
  });

  it("one round trip: every Get is sent before ListUnitsByNames answers", async () => {
    systemd.listDelayMs = 250;
    systemd.arrivals.length = 0;
    systemd.listAnsweredAt = [];
    try {
      const started = performance.now();
      const facts = await dbusCollector.collect(
        context({ DBUS_SESSION_BUS_ADDRESS: user.address }, 2000),
      );
      const took = performance.now() - started;
      expect(docker(facts)).toMatchObject({ restarts: 0 });
      const members = systemd.arrivals.map((a) => a.member);
      // ListUnitsByNames, then a Get of UnitFileState per unit and of NRestarts per service.
      expect(members.sort()).toEqual(["Get", "Get", "Get", "Get", "Get", "ListUnitsByNames"]);
      const answered = systemd.listAnsweredAt[0] ?? 0;
      expect(systemd.arrivals.every((a) => a.at < answered)).toBe(true);
      // Two sequential round trips would take at least twice the manager's 250 ms.
      expect(took).toBeLessThan(500);
    } finally {
      systemd.listDelayMs = 0;
    }
  });

  it("finds the bus at $XDG_RUNTIME_DIR/bus when no address is given", async () => {
    const facts = await dbusCollector.collect(context({}));
    expect(facts).toMatchObject({
      address: `unix:path=${join(rootfs, target.runtimeDir)}/bus`,
      busUp: false,
    });
  });

  it("reports the bus down when it stops", async () => {
    await user.stop();
    const facts = await dbusCollector.collect(context({ DBUS_SESSION_BUS_ADDRESS: user.address }));
    expect(facts).toMatchObject({ busUp: false });
  });
});
