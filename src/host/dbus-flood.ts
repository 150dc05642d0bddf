import type { MessageBus } from "dbus-next";

/**
 * The D-Bus message types of a reply (the specification's METHOD_RETURN and ERROR, as dbus-next's
 * MessageType numbers them): named here so this module does not load dbus-next (see dbus.ts).
 */
const methodReturnType = 2;
const errorType = 3;

/**
 * Messages a bus may send the exporter unasked (method calls, signals, replies to no call of
 * ours) at once, and per second after that. The exporter serves nothing and subscribes to no
 * signal: a quiet bus sends one (NameAcquired, after Hello).
 */
export const floodBurst = 64;
export const floodPerSecond = 16;

/**
 * Bytes, by the sizes headers declare: a call or signal may have 64 KiB, any message 1 MiB (the
 * exporter's own calls are answered in well under 4 KiB: Hello, Ping, GetUser, Properties.Get,
 * ListUnitsByNames of the configured units), and unasked messages together 256 KiB at once,
 * then 64 KiB a second. dbus-next unpacks every message on the event loop whatever its size.
 */
export const unaskedMessageBytes = 64 * 1024;
export const messageBytes = 1024 * 1024;
export const unaskedBytesBurst = 256 * 1024;
export const unaskedBytesPerSecond = 64 * 1024;

/** A token bucket on a clock in milliseconds, owned by one connection. */
export class MessageRate {
  private tokens: number;
  private at: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Takes `cost` tokens (a message, or its bytes) if there are that many. */
  take(cost = 1): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}

/** The private parts of dbus-next 0.10.2 this needs; checked before use. */
interface BusInternals {
  _connection?: {
    listeners?: (event: string) => unknown[];
    removeListener?: (event: string, listener: (msg: unknown) => void) => void;
    on?: (event: string, listener: (msg: unknown) => void) => void;
  };
  _methodReturnHandlers?: Record<number, unknown>;
}

interface Incoming {
  readonly type?: number;
  readonly replySerial?: number;
}

/** What a bus may still send unasked on one connection: its messages, and their bytes. */
export interface UnaskedBudget {
  readonly bytes: MessageRate;
  /** The size the header of the message being delivered declared (the guard reads it). */
  readonly frameBytes: () => number;
}

/** Why an unasked message of `size` bytes ends the connection; undefined when it may pass. */
export function overBytes(bytes: MessageRate, size: number, what: string): string | undefined {
  if (size > unaskedMessageBytes)
    return `the bus sent a ${what} of ${size} bytes, more than the ${unaskedMessageBytes} bytes allowed: connection dropped`;
  if (!bytes.take(size))
    return (
      `the bus sent more than ${unaskedBytesBurst} bytes of messages that are not replies, ` +
      `over ${unaskedBytesPerSecond} bytes a second: connection dropped`
    );
  return undefined;
}

/**
 * Puts a rate on what a bus sends unasked: dbus-next parses every message, answers every method
 * call (an UnknownMethod error, marshalled and written) and emits every signal, so a peer
 * flooding calls had the exporter's event loop to itself. Replies to our own calls always pass;
 * a reply to no call of ours also costs its bytes (calls and signals paid theirs in the guard,
 * before parsing). The first message over the rate calls `trip` once, and nothing after it
 * reaches dbus-next's handlers. False when dbus-next's internals are not what this was written
 * against.
 */
export function limitIncoming(
  bus: MessageBus,
  now: () => number,
  budget: UnaskedBudget,
  trip: (detail: string) => void,
): boolean {
  const { _connection: connection, _methodReturnHandlers: pending } =
    bus as unknown as BusInternals;
  if (!connection?.listeners || !connection.removeListener || !connection.on || !pending)
    return false;
  const rate = new MessageRate(floodBurst, floodPerSecond, now);
  let tripped = false;
  const admit = (msg: unknown): boolean => {
    if (tripped) return false;
    const { type, replySerial } = msg as Incoming;
    const reply = type === methodReturnType || type === errorType;
    if (reply && replySerial !== undefined && replySerial in pending) return true;
    const why = !rate.take()
      ? `the bus sent more than ${floodBurst} messages that are not replies (method calls, signals), ` +
        `over ${floodPerSecond} a second: connection dropped`
      : reply
        ? overBytes(budget.bytes, budget.frameBytes(), "reply to no call")
        : undefined;
    if (why === undefined) return true;
    tripped = true;
    trip(why);
    return false;
  };
  const handlers = connection.listeners("message") as ((msg: unknown) => void)[];
  for (const handle of handlers) connection.removeListener("message", handle);
  connection.on("message", (msg) => {
    if (admit(msg)) for (const handle of handlers) handle(msg);
  });
  return true;
}

/** After a drop for flooding, no reconnect for 10 s, doubled at each drop within 10 min, to 5 min. */
export const floodBackoffMs = 10_000;
const floodMaxBackoffMs = 5 * 60_000;
const floodMemoryMs = 10 * 60_000;

/**
 * One connection's back-off after drops for flooding. Without it each call of each cycle would
 * connect again into the flood; with it a flooding bus costs at most one handshake and
 * `floodBurst` messages per back-off period.
 */
export class FloodBackoff {
  private strikes = 0;
  private lastAt: number | undefined;
  private until = -Infinity;
  private periodMs = 0;
  private why = "";

  constructor(private readonly now: () => number) {}

  dropped(why: string): void {
    const at = this.now();
    const recent = this.lastAt !== undefined && at - this.lastAt < floodMemoryMs;
    this.strikes = recent ? this.strikes + 1 : 1;
    this.lastAt = at;
    this.periodMs = Math.min(floodMaxBackoffMs, floodBackoffMs * 2 ** (this.strikes - 1));
    this.until = at + this.periodMs;
    this.why = why;
  }

  /** Why not to connect now; undefined once the back-off is over. */
  refusal(): string | undefined {
    if (this.now() >= this.until) return undefined;
    return `${this.why}; not reconnecting for ${this.periodMs / 1000} s after the drop`;
  }
}
