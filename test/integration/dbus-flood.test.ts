import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busPing, DbusCallError, DbusClient } from "../../src/host/dbus.js";
import {
  FloodBackoff,
  floodBurst,
  floodPerSecond,
  MessageRate,
} from "../../src/host/dbus-flood.js";
import type { PrivateBus } from "../helpers/dbus.js";
import { startPrivateBus } from "../helpers/dbus.js";
import { startFlooder } from "../helpers/dbus-flooder.js";

// A user's session bus is the user's: any of their processes can send the exporter's connection
// method calls or unicast signals. Before the rate bound, dbus-next parsed and answered every
// call (19.3 s of CPU in 15 s, /metrics p99 132 ms in the attack).
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-dbus-flood-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pings every 100 ms for `seconds` while the flood runs, as cycles would; loop delay and CPU. */
async function underFlood(
  client: DbusClient,
  address: string,
  kind: "call" | "signal" | "big" | "none",
  bodyBytes?: number,
) {
  await client.call(busPing, 2000);
  const flooder = startFlooder(
    address,
    kind === "none" ? "call" : kind,
    3,
    kind === "none" ? 0 : undefined,
    bodyBytes,
  );
  const delay = monitorEventLoopDelay({ resolution: 5 });
  const cpu = process.cpuUsage();
  delay.enable();
  const errors: string[] = [];
  const until = performance.now() + 3000;
  while (performance.now() < until) {
    try {
      await client.call(busPing, 500);
    } catch (err) {
      errors.push(err instanceof DbusCallError ? err.message : String(err));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  delay.disable();
  const used = process.cpuUsage(cpu);
  const sent = await flooder.done;
  return {
    errors,
    sent,
    cpuSeconds: (used.user + used.system) / 1e6,
    maxDelayMs: delay.max / 1e6,
    p99DelayMs: delay.percentile(99) / 1e6,
  };
}

describe("a bus flooding the exporter's connection", () => {
  let bus: PrivateBus;
  beforeAll(async () => {
    bus = await startPrivateBus(dir, "flood");
  });
  afterAll(async () => {
    await bus.stop();
  });

  it.each(["call", "signal"] as const)(
    "with a %s flood, is dropped and the event loop stays free",
    async (kind) => {
      let now = 0;
      const client = new DbusClient(bus.address, undefined, () => now);
      try {
        // The same loop on a quiet bus, side by side: the machine is shared and noisy.
        const quiet = await underFlood(new DbusClient(bus.address), bus.address, "none");
        const result = await underFlood(client, bus.address, kind);
        console.log(`${kind} flood:`, result.errors[0], {
          ...result,
          errors: result.errors.length,
          quiet: { ...quiet, errors: quiet.errors.length },
        });
        expect(quiet.errors).toEqual([]);
        expect(result.sent).toBeGreaterThan(64);
        // Dropped, said so, and not reconnected into the flood on every call.
        expect(result.errors[0]).toMatch(
          /sent more than 64 messages that are not replies .* connection dropped/,
        );
        expect(result.errors.at(-1)).toMatch(/not reconnecting for 10 s/);
        // Before the bound: p99 64-290 ms, max 260-790 ms, 0.3-0.6 s of CPU in these 3 s.
        expect(result.p99DelayMs).toBeLessThan(50);
        expect(result.cpuSeconds).toBeLessThan(quiet.cpuSeconds + 0.2);
        // Past the back-off, the connection is made again.
        now += 10_001;
        await expect(client.call(busPing, 2000)).resolves.toEqual([]);
      } finally {
        client.close();
      }
    },
  );

  // Under the message rate, each signal unpacked by dbus-next on the event loop: before the byte
  // bounds, 2 MiB signals took 2.2 s of CPU in 4 s and a loop delay p99 of 222 ms (8.7 ms quiet).
  it.each([
    [2 * 1024 * 1024, /a signal of \d+ bytes, more than the 1048576 bytes a message may have/],
    [200 * 1024, /a signal of \d+ bytes, more than the 65536 bytes allowed/],
    [
      60 * 1024,
      /more than 262144 bytes of messages that are not replies, over 65536 bytes a second/,
    ],
  ])(
    "with 15 signals a second of %i bytes, is dropped and the loop stays free",
    async (size, why) => {
      let now = 0;
      const quietClient = new DbusClient(bus.address);
      const client = new DbusClient(bus.address, undefined, () => now);
      try {
        const quiet = await underFlood(quietClient, bus.address, "none");
        quietClient.close();
        const result = await underFlood(client, bus.address, "big", size);
        console.log(`${size}-byte signals:`, result.errors[0], {
          ...result,
          errors: result.errors.length,
          quiet: { ...quiet, errors: quiet.errors.length },
        });
        expect(quiet.errors).toEqual([]);
        expect(result.sent).toBeGreaterThan(0);
        expect(result.errors[0]).toMatch(why);
        expect(result.errors[0]).toMatch(/connection dropped/);
        expect(result.errors.at(-1)).toMatch(/not reconnecting for 10 s/);
        // Near the quiet loop of the same run, whatever the machine's noise.
        expect(result.p99DelayMs).toBeLessThan(quiet.p99DelayMs + 30);
        now += 10_001;
        await expect(client.call(busPing, 2000)).resolves.toEqual([]);
      } finally {
        quietClient.close();
        client.close();
      }
    },
  );

  it("a quiet bus keeps its connection", async () => {
    const client = new DbusClient(bus.address);
    try {
      for (let i = 0; i < 200; i++) await client.call(busPing, 2000);
    } finally {
      client.close();
    }
  });
});

describe("MessageRate and FloodBackoff", () => {
  it("admits the burst, then the rate", () => {
    let now = 0;
    const rate = new MessageRate(floodBurst, floodPerSecond, () => now);
    let admitted = 0;
    for (let i = 0; i < 1000; i++) if (rate.take()) admitted++;
    expect(admitted).toBe(floodBurst);
    now += 1000;
    admitted = 0;
    for (let i = 0; i < 1000; i++) if (rate.take()) admitted++;
    expect(admitted).toBe(floodPerSecond);
  });

  it("doubles the back-off for drops within 10 minutes, to 5 minutes, and forgets after", () => {
    let now = 0;
    const backoff = new FloodBackoff(() => now);
    const periods: number[] = [];
    for (let i = 0; i < 7; i++) {
      backoff.dropped("flood");
      periods.push(Number(/for (\d+) s/.exec(backoff.refusal() ?? "")?.[1]));
      now += 1000;
    }
    expect(periods).toEqual([10, 20, 40, 80, 160, 300, 300]);
    now += 11 * 60_000;
    expect(backoff.refusal()).toBeUndefined();
    backoff.dropped("flood");
    expect(backoff.refusal()).toMatch(/for 10 s/);
  });
});
