import type { Credentials } from "./dbus.js";
import { DbusClient } from "./dbus.js";
import { FloodBackoff } from "./dbus-flood.js";

/** performance.now(), one function for every pool. */
const monotonicMs = (): number => performance.now();

/**
 * The long-lived connection to one owner's bus (a watched user's, or the system bus), reused
 * across runs and closed on stop; made with `credentials` (a watched user's) when given, else
 * with the process's own. A user's bus moves with their runtime dir: one client at a time, the
 * old one closed when the address changes, and the back-off after a flood is the owner's, so a
 * new runtime dir each cycle neither piles up sockets nor starts a flood afresh.
 */
export class DbusPool {
  private client: DbusClient | undefined;
  /** Made with the first client: most users of a big host never have a bus. */
  private flood: FloodBackoff | undefined;

  constructor(
    private readonly credentials?: Credentials,
    /** Milliseconds, for the clients' rates and the back-off. */
    private readonly now: () => number = monotonicMs,
  ) {}

  get(address: string): DbusClient {
    if (this.client?.address === address) return this.client;
    this.client?.close();
    this.flood ??= new FloodBackoff(this.now);
    this.client = new DbusClient(address, this.credentials, this.now, this.flood);
    return this.client;
  }

  closeAll(): void {
    this.client?.close();
    this.client = undefined;
  }
}

/** A property value from org.freedesktop.DBus.Properties.Get, which answers a Variant. */
export function variantValue(body: readonly unknown[]): unknown {
  const first = body[0];
  return typeof first === "object" && first !== null && "value" in first
    ? (first as { value: unknown }).value
    : first;
}
