import type { Credentials } from "./dbus.js";
import { DbusClient } from "./dbus.js";

/**
 * Long-lived D-Bus connections by address, reused across runs and closed on stop; made with
 * `credentials` (a watched user's) when given, else with the process's own.
 */
export class DbusPool {
  private readonly clients = new Map<string, DbusClient>();

  constructor(private readonly credentials?: Credentials) {}

  get(address: string): DbusClient {
    let client = this.clients.get(address);
    if (!client) this.clients.set(address, (client = new DbusClient(address, this.credentials)));
    return client;
  }

  closeAll(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

/** A property value from org.freedesktop.DBus.Properties.Get, which answers a Variant. */
export function variantValue(body: readonly unknown[]): unknown {
  const first = body[0];
  return typeof first === "object" && first !== null && "value" in first
    ? (first as { value: unknown }).value
    : first;
}
