import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busPing, DbusCallError, DbusClient } from "../../src/host/dbus.js";
import { DbusPool } from "../../src/host/dbus-pool.js";
import type { PrivateBus } from "../helpers/dbus.js";
import { startPrivateBus } from "../helpers/dbus.js";
import { startFlooder } from "../helpers/dbus-flooder.js";

// A user's bus address follows their runtime dir, which a user can change each cycle (a fake
// rootlesskit restarted with a new XDG_RUNTIME_DIR). Each new dir here is a symlink to the same
// private dbus-daemon's socket, so the daemon counts the connections the pool keeps.
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-dbus-pool-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let dirs = 0;
/** A new runtime dir whose bus is `bus`'s socket. */
function movedBus(bus: PrivateBus): string {
  const runtime = join(dir, `run-${dirs++}`);
  mkdirSync(runtime);
  symlinkSync(bus.socket, join(runtime, "bus"));
  return `unix:path=${runtime}/bus`;
}

/** The connections on `bus` other than the observer's own. */
async function connections(bus: PrivateBus): Promise<number> {
  const observer = new DbusClient(bus.address);
  try {
    const [names] = await observer.call(
      {
        destination: "org.freedesktop.DBus",
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "ListNames",
      },
      2000,
    );
    return (names as string[]).filter((n) => n.startsWith(":")).length - 1;
  } finally {
    observer.close();
  }
}

describe("a user's bus that moves with their runtime dir", () => {
  let bus: PrivateBus;
  beforeAll(async () => {
    bus = await startPrivateBus(dir, "pool");
  });
  afterAll(async () => {
    await bus.stop();
  });

  it("keeps one connection, the old one closed", async () => {
    const pool = new DbusPool();
    try {
      for (let i = 0; i < 6; i++) await pool.get(movedBus(bus)).call(busPing, 2000);
      // Before: one connection per runtime dir the user ever had, never closed (6 here).
      expect(await connections(bus)).toBe(1);
    } finally {
      pool.closeAll();
    }
  });

  it("keeps the back-off after a flood when the bus moves", async () => {
    let now = 0;
    const pool = new DbusPool(undefined, () => now);
    try {
      const first = movedBus(bus);
      await pool.get(first).call(busPing, 2000);
      const flooder = startFlooder(bus.address, "big", 3, 20, 200 * 1024);
      let dropped = "";
      for (let i = 0; i < 30 && dropped === ""; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        try {
          await pool.get(first).call(busPing, 500);
        } catch (err) {
          dropped = err instanceof DbusCallError ? err.message : String(err);
        }
      }
      flooder.child.kill();
      await flooder.done;
      expect(dropped).toMatch(/more than the 65536 bytes allowed: connection dropped/);
      // Before: a new address was a new client with a fresh back-off, connected into the flood.
      await expect(pool.get(movedBus(bus)).call(busPing, 2000)).rejects.toThrow(
        /not reconnecting for 10 s/,
      );
      now += 10_001;
      await expect(pool.get(movedBus(bus)).call(busPing, 2000)).resolves.toEqual([]);
    } finally {
      pool.closeAll();
    }
  });
});
