import type { Socket } from "node:net";

/** What a peer may send before the handshake is over (a few short lines) and leave unparsed. */
const handshakeBytes = 64 * 1024;
const pendingBytes = 4 * 1024 * 1024;

/**
 * Puts dbus-next's socket under guard: a bus is another process, a watched user's own. dbus-next
 * reads the handshake a byte at a time into an unbounded array, buffers whatever body length a
 * header declares, and throws from its "readable" handler on messages it cannot parse, where
 * nothing can catch it and the whole exporter would exit. Here too much data ends the
 * connection, and a parser that throws ends the connection with that error, as a lost bus.
 * `connected` is called once the handshake is done: dbus-next has its parser on the socket then.
 */
export function guardBusSocket(socket: Socket): {
  readonly connected: () => void;
  readonly cut: (error: Error) => void;
} {
  let handshaking = true;
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
  return {
    // A destroyed socket still hands out what it had buffered, and dbus-next's parser reads in a
    // loop until read() gives nothing: without this it would parse megabytes of a flood more.
    cut: (error) => {
      socket.read = () => null;
      socket.destroy(error);
    },
    connected: () => {
      handshaking = false;
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
