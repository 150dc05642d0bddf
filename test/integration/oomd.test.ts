import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Cycle, HostState } from "../../src/collectors/state.js";
import { readOomd, unitObjectPath } from "../../src/collectors/cgroup/oomd.js";
import { systemdOomd } from "../../src/collectors/cgroup/checks.js";
import type { PrivateBus } from "../helpers/dbus.js";
import { startPrivateBus, Systemd1Double } from "../helpers/dbus.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

// systemd-oomd's watch over user@UID.service, read from a systemd1 double on a real dbus-daemon.
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-oomd-"));
const host = new HostState();
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  host.systemBus.closeAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let buses = 0;
async function systemManager(oomd: string | undefined, settings: Record<string, string>) {
  const bus: PrivateBus = await startPrivateBus(dir, `system${buses++}`);
  stops.push(() => bus.stop());
  const systemd = new Systemd1Double();
  if (oomd) systemd.states.set("systemd-oomd.service", oomd);
  for (const [unit, value] of Object.entries(settings)) systemd.oomPressure.set(unit, value);
  await systemd.serve(bus.address);
  stops.push(() => systemd.stop());
  return bus.address;
}

const ask = (address: string) => ({
  pool: host.systemBus,
  address,
  timeoutMs: 1000,
  signal: new AbortController().signal,
});
const all = { "user@1000.service": "auto", "user-1000.slice": "auto", "user.slice": "auto" };

describe("systemd-oomd over the system bus", () => {
  it.each([
    ["user@1000.service", "user_401000_2eservice"],
    ["user-1000.slice", "user_2d1000_2eslice"],
    ["systemd-oomd.service", "systemd_2doomd_2eservice"],
  ])("unitObjectPath(%s)", (unit, label) =>
    expect(unitObjectPath(unit)).toBe(`/org/freedesktop/systemd1/unit/${label}`),
  );

  it.each([
    ["active", { "user@1000.service": "kill" }, "user@1000.service"],
    ["active", { "user.slice": "kill" }, "user.slice"],
    ["active", { "user-1000.slice": "kill", "user.slice": "kill" }, "user-1000.slice"],
    ["active", {}, undefined],
    ["inactive", { "user@1000.service": "kill" }, undefined],
  ])("oomd %s with %j watches through %s", async (state, kill, watchedBy) => {
    const address = await systemManager(state, { ...all, ...kill });
    const facts = await readOomd(ask(address), new Cycle(() => true), 1000);
    expect(facts.active).toBe(state === "active");
    expect(facts.watchedBy).toBe(watchedBy);
    expect(facts.memoryPressure.map((s) => s.unit)).toEqual(Object.keys(all));
    const verdict = systemdOomd.evaluate({
      target: alice,
      facts: { ...healthyFacts(), cgroup: { ...healthyFacts().cgroup, oomd: facts } },
    });
    expect(verdict.state).toBe(watchedBy ? "fail" : "pass");
    if (watchedBy === "user.slice")
      expect(verdict.remediation?.en).toContain("/etc/systemd/system/user.slice.d/oomd.conf");
    if (watchedBy === "user@1000.service")
      expect(verdict.remediation?.en).toContain("/etc/systemd/system/user@.service.d/oomd.conf");
  });

  it("fails, and the check says unknown, when no system manager answers", async () => {
    const bus = await startPrivateBus(dir, `empty${buses++}`);
    stops.push(() => bus.stop());
    await expect(readOomd(ask(bus.address), new Cycle(() => true), 1000)).rejects.toThrow();
    const cgroup = { ...healthyFacts().cgroup, oomd: undefined };
    const verdict = systemdOomd.evaluate({ target: alice, facts: { cgroup } });
    expect(verdict.state).toBe("unknown");
  });
});
