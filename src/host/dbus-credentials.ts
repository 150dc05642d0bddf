import type { MessageBus } from "dbus-next";

/** A watched user's identity, for what the OS decides by credentials rather than by being root. */
export interface Credentials {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups (with the primary one). */
  readonly groups: readonly number[];
}

/** The private part of dbus-next 0.10.2 that carries the socket; checked before use. */
interface ConnectionInternals {
  _connection?: { stream?: { prependOnceListener?: (event: string, fn: () => void) => void } };
}

/**
 * Makes a dbus-next connection that the bus sees as `credentials`' user, when the exporter runs as
 * root and watches another user. A session bus (dbus-daemon, dbus-broker) accepts only its owner:
 * it compares the uid the client claims in the EXTERNAL handshake with SO_PEERCRED of the socket,
 * which the kernel takes from the effective ids at connect(2). So: the effective uid, gid and
 * groups are the user's for the synchronous stretch in which dbus-next creates the socket and
 * connects (a unix socket connects within that call), then root's again; and dbus-next's claim,
 * which it reads from process.getuid() inside the socket's "connect" event, is the user's for
 * that one synchronous handler. Measured cost: nothing per cycle, the connection is kept.
 * While the ids are switched, libuv's threads run with them too: a file read in flight then may
 * fail with EACCES for those microseconds and is reported as unreadable, never read wrongly.
 */
export function connectAs(
  credentials: Credentials | undefined,
  make: () => MessageBus,
): MessageBus {
  const euid = process.geteuid?.();
  if (!credentials || euid !== 0 || credentials.uid === 0) return make();
  const { uid, gid, groups } = credentials;
  const savedGroups = process.getgroups?.() ?? [];
  const savedEgid = process.getegid?.() ?? 0;
  let bus: MessageBus;
  // What was switched is switched back, in reverse, whatever failed (a uid the kernel refuses,
  // say); a process that cannot get its own ids back must not go on serving as someone else.
  let switched = 0;
  try {
    process.setgroups?.([...groups]);
    switched = 1;
    process.setegid?.(gid);
    switched = 2;
    process.seteuid?.(uid);
    switched = 3;
    bus = make();
  } finally {
    try {
      if (switched >= 3) process.seteuid?.(0);
      if (switched >= 2) process.setegid?.(savedEgid);
      if (switched >= 1) process.setgroups?.(savedGroups);
    } catch (err) {
      process.stderr.write(
        `rootless-exporter: cannot restore its own ids after a user's bus connection: ${String(err)}\n`,
      );
      process.abort();
    }
  }
  const stream = (bus as unknown as ConnectionInternals)._connection?.stream;
  if (typeof stream?.prependOnceListener !== "function") {
    bus.disconnect();
    throw new Error("dbus-next's connection has no stream to authenticate as another user");
  }
  stream.prependOnceListener("connect", () => {
    const real = process.getuid;
    process.getuid = () => uid;
    // Restored once the synchronous "connect" handlers (the handshake's first line) are done.
    queueMicrotask(() => {
      process.getuid = real;
    });
  });
  return bus;
}
