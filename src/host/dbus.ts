import type { MessageBus, sessionBus as SessionBus } from "dbus-next";
import { lstatPath } from "./files.js";
import { Socket as NetSocket } from "node:net";
import { connectAs } from "./dbus-credentials.js";
import {
  FloodBackoff,
  limitIncoming,
  MessageRate,
  unaskedBytesBurst,
  unaskedBytesPerSecond,
} from "./dbus-flood.js";
import { guardBusSocket, judgeFrame } from "./dbus-guard.js";
import type { Credentials } from "./dbus-credentials.js";

export type { Credentials } from "./dbus-credentials.js";

export interface DbusCall {
  readonly destination: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

/** org.freedesktop.DBus.Peer.Ping, answered by the bus daemon itself: is the bus alive. */
export const busPing: DbusCall = {
  destination: "org.freedesktop.DBus",
  path: "/org/freedesktop/DBus",
  interface: "org.freedesktop.DBus.Peer",
  member: "Ping",
};

/** A failed call: `name` is the D-Bus error name, or one of ours for timeouts and lost buses. */
export class DbusCallError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

export const timeoutError = "rootless_exporter.Timeout";

/**
 * The only user bus address a connection made with a user's credentials accepts: a unix path of
 * plain characters. dbus-next splits addresses on ";" and "," and can exec programs
 * (unixexec:), and a runtime dir comes from what the user's own processes say.
 */
const safeUserBusAddress = /^unix:path=\/[A-Za-z0-9_.@+/-]+$/;
export const disconnectedError = "rootless_exporter.Disconnected";

/**
 * A failed connect(2) by its errno alone, in one wording: the path is the address's, and what
 * lies past a user's symlinks is for the user's credentials to find, not for the message to say.
 */
function connectFailure(err: unknown, credentials: Credentials | undefined): string | undefined {
  const { code, syscall } = (err ?? {}) as NodeJS.ErrnoException;
  if (syscall !== "connect" || typeof code !== "string") return undefined;
  return credentials
    ? `cannot connect as uid ${credentials.uid} (${code})`
    : `cannot connect (${code})`;
}

interface Pending {
  readonly reject: (err: DbusCallError) => void;
}

/** The private parts of dbus-next 0.10.2 that a safe client needs; checked before use. */
interface BusInternals {
  _connection?: { on?: (event: string, listener: () => void) => void; stream?: unknown };
  _methodReturnHandlers?: Record<number, unknown>;
}

/**
 * One connection to one bus, made safe: dbus-next 0.10.2 has no call timeout, never rejects pending
 * calls when the socket closes, and crashes the process on an unhandled "error" event. Every call
 * here is bounded by a timeout, a lost connection rejects what is pending and is rebuilt on the
 * next call, and errors never escape as events.
 */
export class DbusClient {
  private bus: MessageBus | undefined;
  private ready: Promise<MessageBus> | undefined;
  private readonly pending = new Set<Pending>();

  constructor(
    readonly address: string,
    /** A watched user's: their session bus accepts only its owner's uid (dbus-daemon, EXTERNAL). */
    private readonly credentials?: Credentials,
    /** Milliseconds, for the rate of unasked messages and the back-off after a flood. */
    private readonly now: () => number = () => performance.now(),
    /** The bus owner's back-off, which outlives a client when their bus moves (DbusPool). */
    private readonly flood: FloodBackoff = new FloodBackoff(now),
  ) {}

  async call(call: DbusCall, timeoutMs: number, signal?: AbortSignal): Promise<unknown[]> {
    // No socket file, no bus: say so without building a dbus-next connection every cycle.
    if (this.credentials && !safeUserBusAddress.test(this.address))
      throw new DbusCallError(
        disconnectedError,
        "refusing a user bus address that is not a plain unix:path (it comes from the user's environment)",
      );
    const flooded = this.bus ? undefined : this.flood.refusal();
    if (flooded) throw new DbusCallError(disconnectedError, `${this.address}: ${flooded}`);
    const socket = /^unix:path=([^,;]+)/.exec(this.address)?.[1];
    // Our own bus only: for another user's, root's lstat would follow a symlink swapped into the
    // path and tell what is in root-only directories; the connect made as the user decides.
    const own = !this.bus && !this.credentials && socket !== undefined;
    const present = own ? await lstatPath(socket) : undefined;
    if (present && !present.ok)
      throw new DbusCallError(disconnectedError, `${this.address}: ${present.detail}`);
    const started = Date.now();
    // Loaded at the first call: a configuration that never calls a bus never loads dbus-next
    // (~9 MiB of a process's RSS; the module cache makes later imports a lookup).
    const { DBusError, Message, sessionBus } = await import("dbus-next");
    let bus: MessageBus;
    try {
      bus = await this.withTimeout(
        this.connect(sessionBus),
        timeoutMs,
        signal,
        `connecting to ${this.address}`,
      );
    } catch (err) {
      // A peer that accepts but never finishes the handshake: start afresh on the next call.
      if (err instanceof DbusCallError && err.name === timeoutError) this.drop(err);
      throw err;
    }
    const message = new Message({
      destination: call.destination,
      path: call.path,
      interface: call.interface,
      member: call.member,
      signature: call.signature ?? "",
      body: [...(call.body ?? [])],
    });
    const left = Math.max(1, timeoutMs - (Date.now() - started));
    const reply = bus.call(message).then(
      (msg) => (msg?.body ?? []) as unknown[],
      (err: unknown) => {
        if (err instanceof DBusError) throw new DbusCallError(err.type, err.text || err.type);
        throw new DbusCallError("rootless_exporter.Error", String(err));
      },
    );
    try {
      return await this.withTimeout(
        reply,
        left,
        signal,
        `${call.interface}.${call.member} on ${call.destination}`,
        timeoutMs,
      );
    } catch (err) {
      // dbus-next keeps a handler per unanswered call forever: drop ours.
      const handlers = (bus as unknown as BusInternals)._methodReturnHandlers;
      if (
        err instanceof DbusCallError &&
        err.name === timeoutError &&
        handlers &&
        message.serial !== null
      ) {
        delete handlers[message.serial];
      }
      throw err;
    }
  }

  /** Closes the connection and rejects what is pending. */
  close(): void {
    this.drop(new DbusCallError(disconnectedError, "client closed"));
  }

  private connect(sessionBus: typeof SessionBus): Promise<MessageBus> {
    this.ready ??= new Promise<MessageBus>((resolve, reject) => {
      // EXTERNAL only: dbus-next's fallbacks (DBUS_COOKIE_SHA1) would read files named by the
      // server under the exporter's home.
      const options = { busAddress: this.address, authMethods: ["EXTERNAL"] };
      const bus = connectAs(this.credentials, () => sessionBus(options as { busAddress: string }));
      this.bus = bus;
      const lost = (why: string): void => {
        if (this.bus !== bus) return;
        const error = new DbusCallError(disconnectedError, `${this.address}: ${why}`);
        this.drop(error);
        reject(error);
      };
      bus.on("error", (err: unknown) =>
        lost(
          connectFailure(err, this.credentials) ??
            (err instanceof Error ? err.message : String(err)),
        ),
      );
      const connection = (bus as unknown as BusInternals)._connection;
      connection?.on?.("end", () => lost("connection closed"));
      const socket = connection?.stream;
      if (!(socket instanceof NetSocket)) {
        lost("dbus-next's connection has no socket to guard");
        return;
      }
      // The connection's own "connect" (handshake done) comes before Hello is answered: the
      // parser must be under guard before the peer's first message, whatever it is.
      // Unasked bytes are paid before parsing (calls, signals) or after (replies to no call).
      const bytes = new MessageRate(unaskedBytesBurst, unaskedBytesPerSecond, this.now);
      const guard = guardBusSocket(socket, judgeFrame(bytes), (why) => this.flood.dropped(why));
      connection?.on?.("connect", () => guard.connected());
      // Bytes are bounded by the guard, messages by their rate: past it the connection is cut.
      const budget = { bytes, frameBytes: guard.frameBytes };
      const limited = limitIncoming(bus, this.now, budget, (why) => {
        this.flood.dropped(why);
        guard.cut(new Error(why));
      });
      if (!limited) lost("dbus-next's connection has no message handler to put a rate on");
      bus.on("connect", () => resolve(bus));
    });
    // A rejected connect must not be left unhandled when nobody awaits it any more.
    this.ready.catch(() => undefined);
    return this.ready;
  }

  private drop(error: DbusCallError): void {
    const bus = this.bus;
    this.bus = undefined;
    this.ready = undefined;
    for (const pending of [...this.pending]) pending.reject(error);
    this.pending.clear();
    if (bus) {
      try {
        bus.disconnect();
      } catch {
        // already closed
      }
    }
  }

  private withTimeout<T>(
    work: Promise<T>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    what: string,
    /** The whole call's budget, for the message (the reply gets what connecting left of it). */
    budgetMs = timeoutMs,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { reject: (err) => settle(() => reject(err)) };
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(new DbusCallError(timeoutError, `${what}: no answer within ${budgetMs} ms`)),
          ),
        timeoutMs,
      );
      const onAbort = (): void =>
        settle(() => reject(new DbusCallError(timeoutError, `${what}: aborted`)));
      let done = false;
      const settle = (fn: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.pending.delete(entry);
        fn();
      };
      this.pending.add(entry);
      signal?.addEventListener("abort", onAbort);
      work.then(
        (value) => settle(() => resolve(value)),
        (err: unknown) => settle(() => reject(err)),
      );
    });
  }
}
