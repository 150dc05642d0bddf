import type { Socket } from "node:net";
import type { MessageRate } from "./dbus-flood.js";
import { messageBytes, overBytes } from "./dbus-flood.js";

/** What a peer may send before the handshake is over (a few short lines) and leave unparsed. */
const handshakeBytes = 64 * 1024;
const pendingBytes = 4 * 1024 * 1024;

const kinds: Readonly<Record<number, string>> = {
  1: "method call",
  2: "method return",
  3: "error",
  4: "signal",
};

/**
 * Follows the message frames in what dbus-next reads, across reads of any size: each message's
 * fixed 16-byte header says its size (bytes 4-7 body, 12-15 header fields, the body 8-aligned),
 * so a message is judged before dbus-next has its body, let alone unpacks it.
 */
export class FrameMeter {
  private readonly header = Buffer.alloc(16);
  private have = 0;
  private skip = 0;
  /** The size the last header declared. */
  last = 0;

  constructor(
    /** Why the message a header declares ends the connection; undefined to let it pass. */
    private readonly judge: (type: number, size: number) => string | undefined,
  ) {}

  /** Why to cut before `chunk` is handed on; undefined when every header in it passed. */
  feed(chunk: Buffer): string | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const n = Math.min(16 - this.have, chunk.length - at);
      chunk.copy(this.header, this.have, at, at + n);
      this.have += n;
      at += n;
      if (this.have < 16) break;
      this.have = 0;
      const endian = this.header[0];
      if (endian !== 0x6c && endian !== 0x42)
        return "the bus sent bytes that are not a D-Bus message";
      const le = endian === 0x6c;
      const body = le ? this.header.readUInt32LE(4) : this.header.readUInt32BE(4);
      const fields = le ? this.header.readUInt32LE(12) : this.header.readUInt32BE(12);
      this.last = 16 + Math.ceil(fields / 8) * 8 + body;
      this.skip = this.last - 16;
      const why = this.judge(this.header[1] ?? 0, this.last);
      if (why !== undefined) return why;
    }
    return undefined;
  }
}

/** Any message at most 1 MiB; calls and signals, which nobody asked for, pay from `unasked`. */
export function judgeFrame(
  unasked: MessageRate,
): (type: number, size: number) => string | undefined {
  return (type, size) => {
    const kind = kinds[type] ?? `message of type ${type}`;
    if (size > messageBytes)
      return `the bus sent a ${kind} of ${size} bytes, more than the ${messageBytes} bytes a message may have: connection dropped`;
    // Replies are judged once parsed: only then is it known whether they answer our call.
    return type === 2 || type === 3 ? undefined : overBytes(unasked, size, kind);
  };
}

/**
 * Puts dbus-next's socket under guard: a bus is another process, a watched user's own. dbus-next
 * reads the handshake a byte at a time into an unbounded array, buffers whatever body length a
 * header declares, unpacks every message on the event loop, and throws from its "readable"
 * handler on messages it cannot parse, where nothing can catch it and the whole exporter would
 * exit. Here too much data ends the connection, a message over `judge`'s bounds ends it through
 * `over` (the flood path, with its back-off) before dbus-next reads its body, and a parser that
 * throws ends the connection with that error, as a lost bus. `connected` is called once the
 * handshake is done: dbus-next has its parser on the socket then.
 */
export function guardBusSocket(
  socket: Socket,
  judge: (type: number, size: number) => string | undefined,
  over: (why: string) => void,
): {
  readonly connected: () => void;
  readonly cut: (error: Error) => void;
  /** The size the header of the message dbus-next is reading declared. */
  readonly frameBytes: () => number;
} {
  let handshaking = true;
  const meter = new FrameMeter(judge);
  const guard = (): void => {
    const over = handshaking
      ? socket.bytesRead > handshakeBytes
      : socket.readableLength > pendingBytes;
    if (over)
      socket.destroy(
        new Error(
          handshaking
            ? `the bus sent more than ${handshakeBytes} bytes before its handshake ended`
            : `the bus sent a message of more than ${pendingBytes} bytes`,
        ),
      );
  };
  socket.prependListener("readable", guard);
  // A destroyed socket still hands out what it had buffered, and dbus-next's parser reads in a
  // loop until read() gives nothing: without this it would parse megabytes of a flood more.
  const cut = (error: Error): void => {
    socket.read = () => null;
    socket.destroy(error);
  };
  return {
    cut,
    frameBytes: () => meter.last,
    connected: () => {
      handshaking = false;
      // Every byte dbus-next's parser reads from here on is a message's: its frames are followed.
      const read = socket.read.bind(socket);
      socket.read = (size?: number) => {
        const chunk: unknown = read(size);
        if (!Buffer.isBuffer(chunk)) return chunk;
        const why = meter.feed(chunk);
        if (why === undefined) return chunk;
        over(why);
        cut(new Error(why));
        return null;
      };
      // dbus-next adds its parser right after emitting "connect": wrap it once it is there.
      queueMicrotask(() => {
        for (const listener of socket.listeners("readable")) {
          if (listener === guard) continue;
          socket.removeListener("readable", listener as () => void);
          socket.on("readable", () => {
            if (socket.destroyed) return;
            try {
              (listener as () => void).call(socket);
            } catch (err) {
              socket.destroy(
                new Error(
                  `the bus sent a message that cannot be parsed (${err instanceof Error ? err.message : String(err)})`,
                ),
              );
            }
          });
        }
      });
    },
  };
}
