import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";

/**
 * A peer in its own process (its CPU is not the test's) that floods method calls, or signals, at
 * every other connection of a bus, as a hostile user's process on their own session bus would:
 * it finds the exporter by ListNames, and again after each reconnect. Bounded in time and count.
 */
const script = `
const { sessionBus, Message, MessageFlag } = require("dbus-next");
const [address, kind, seconds, max] = process.argv.slice(1);
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
bus.on("connect", () => { find(); setInterval(find, 100).unref(); flood(); });
`;

export interface Flooder {
  readonly child: ChildProcess;
  /** Resolves with the number of messages sent once the flooder is done. */
  readonly done: Promise<number>;
}

export function startFlooder(
  address: string,
  kind: "call" | "signal",
  seconds: number,
  max = 5_000_000,
): Flooder {
  const child = spawn(
    process.execPath,
    ["-e", script, address, kind, String(seconds), String(max)],
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
