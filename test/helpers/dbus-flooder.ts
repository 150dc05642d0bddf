import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";

/**
 * A peer in its own process (its CPU is not the test's) that floods method calls, or signals, at
 * every other connection of a bus, as a hostile user's process on their own session bus would:
 * it finds the exporter by ListNames, and again after each reconnect. Bounded in time and count.
 * "big": 15 signals a second (under the message rate) with a `bodyBytes` 'au' body each,
 * marshalled once per destination and written with a fresh serial.
 */
const script = `
const { sessionBus, Message, MessageFlag } = require("dbus-next");
const { marshall } = require("dbus-next/lib/message.js");
const [address, kind, seconds, max, bodyBytes] = process.argv.slice(1);
const bus = sessionBus({ busAddress: address, authMethods: ["EXTERNAL"] });
bus.on("error", () => process.exit(0));
const until = Date.now() + Number(seconds) * 1000;
let targets = [];
let sent = 0;
const list = new Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
  interface: "org.freedesktop.DBus", member: "ListNames" });
const find = () => bus.call(list).then((reply) => {
  targets = reply.body[0].filter((n) => n.startsWith(":") && n !== bus.name);
}, () => undefined);
const flood = () => {
  if (Date.now() > until || sent >= Number(max)) { process.stdout.write(String(sent)); return bus.disconnect(); }
  for (const destination of targets) for (let i = 0; i < 200; i++, sent++) {
    bus.send(kind === "signal"
      ? new Message({ type: 4, destination, path: "/x", interface: "x.Flood", member: "Boom" })
      : new Message({ destination, path: "/x", interface: "x.Flood", member: "Call", flags: MessageFlag.NO_REPLY_EXPECTED }));
  }
  setImmediate(flood);
};
const big = new Map();
const elements = new Array(Math.floor(Number(bodyBytes) / 4)).fill(7);
const bigFlood = () => {
  if (Date.now() > until || sent >= Number(max)) { process.stdout.write(String(sent)); return bus.disconnect(); }
  for (const destination of targets) {
    let frame = big.get(destination);
    if (!frame) big.set(destination, (frame = marshall(new Message({ type: 4, serial: 1, destination,
      path: "/x", interface: "x.Flood", member: "Big", signature: "au", body: [elements] }))[0]));
    frame.writeUInt32LE(1000000 + sent++, 8);
    bus._connection.stream.write(Buffer.from(frame));
  }
  setTimeout(bigFlood, 1000 / 15);
};
bus.on("connect", () => { find(); setInterval(find, 100).unref(); kind === "big" ? bigFlood() : flood(); });
`;

export interface Flooder {
  readonly child: ChildProcess;
  /** Resolves with the number of messages sent once the flooder is done. */
  readonly done: Promise<number>;
}

export function startFlooder(
  address: string,
  kind: "call" | "signal" | "big",
  seconds: number,
  max = 5_000_000,
  bodyBytes = 2 * 1024 * 1024,
): Flooder {
  const child = spawn(
    process.execPath,
    ["-e", script, address, kind, String(seconds), String(max), String(bodyBytes)],
    {
      stdio: ["ignore", "pipe", "inherit"],
      cwd: process.cwd(),
    },
  );
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const done = once(child, "exit").then(() => Number(out) || 0);
  return { child, done };
}
