import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { busPing, DbusCallError, DbusClient } from "../../src/host/dbus.js";

// A watched user's bus is that user's process. These peers answer the handshake and then send
// what dbus-next cannot take: before the guard, each one ended the whole exporter process (an
// exception from a socket handler) or let it buffer without bound.
const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-hostile-bus-"));
const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A peer that does the SASL handshake, then runs `after` with the socket. */
function hostileBus(name: string, after: (socket: Socket) => void, handshake = true): string {
  const path = join(dir, name);
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    if (!handshake) return after(socket);
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("AUTH") && !text.includes("OK sent")) {
        text += "OK sent";
        socket.write("OK 0123456789abcdef0123456789abcdef\r\n");
      }
      if (text.includes("BEGIN") && !text.includes("after")) {
        text += "after";
        after(socket);
      }
    });
  });
  server.listen(path);
  servers.push(server);
  return `unix:path=${path}`;
}

/** A message header (16 bytes, little endian) that declares `body` body bytes and no fields. */
function header(body: number): Buffer {
  const b = Buffer.alloc(16);
  b.write("l", 0, "latin1");
  b[1] = 2; // method return
  b[3] = 1; // protocol version
  b.writeUInt32LE(body, 4);
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(0, 12);
  return b;
}

async function outcome(address: string): Promise<{ error: DbusCallError; ms: number }> {
  const client = new DbusClient(address);
  const started = performance.now();
  try {
    await client.call(busPing, 3000);
    throw new Error("expected the call to fail");
  } catch (err) {
    if (!(err instanceof DbusCallError)) throw err;
    return { error: err, ms: performance.now() - started };
  } finally {
    client.close();
  }
}

describe("a hostile bus ends its own connection, never the exporter", () => {
  it("a header declaring a 4 GiB body (dbus-next's read throws)", async () => {
    const address = hostileBus("huge", (socket) => socket.write(header(0xfffffff0)));
    const { error, ms } = await outcome(address);
    expect(error.message).toMatch(/cannot be parsed|more than/);
    expect(ms).toBeLessThan(2500);
  });

  it("a body that grows past the bound, cut from its header", async () => {
    const address = hostileBus("flood", (socket) => {
      socket.write(header(64 * 1024 * 1024));
      const chunk = Buffer.alloc(256 * 1024, 1);
      let sent = 0;
      // Bounded: 8 MiB at most, twice the guard's limit.
      const pump = (): void => {
        while (sent < 8 * 1024 * 1024 && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once("drain", pump);
        }
      };
      pump();
    });
    const { error } = await outcome(address);
    // Before the byte bounds, 4 MiB of it was buffered first (the guard's backstop).
    expect(error.message).toMatch(
      /a method return of 67108880 bytes, more than the 1048576 bytes a message may have/,
    );
  });

  it("a handshake line that never ends", async () => {
    const address = hostileBus(
      "endless",
      (socket) => {
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        for (let i = 0; i < 32 && !socket.destroyed; i++) socket.write(chunk); // 2 MiB, bounded
      },
      false,
    );
    const { error, ms } = await outcome(address);
    expect(error.message).toMatch(/before its handshake ended/);
    expect(ms).toBeLessThan(2500);
  });

  it("garbage header fields after a valid header", async () => {
    const address = hostileBus("fields", (socket) => {
      const b = header(0);
      b.writeUInt32LE(8, 12); // 8 bytes of header fields ...
      socket.write(Buffer.concat([b, Buffer.from([0xff, 0xff, 0xff, 0xff, 9, 9, 9, 9])]));
    });
    const { error } = await outcome(address);
    expect(error.message).toMatch(/cannot be parsed/);
  });
});

process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

describe("a user bus address from a user's environment", () => {
  it.each([
    "unix:path=/tmp/e,path=;unixexec:path=/tmp/p,arg1=x/bus",
    "unixexec:path=/bin/sh",
    "unix:path=/run/user/1000/bus;tcp:host=127.0.0.1,port=1",
    "unix:abstract=/tmp/x",
  ])("is refused unless a plain unix path, when connecting as the user: %s", async (address) => {
    const client = new DbusClient(address, { uid: 4242, gid: 4242, groups: [4242] });
    await expect(client.call(busPing, 500)).rejects.toThrow(/refusing a user bus address/);
  });
});
