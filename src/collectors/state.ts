import { DbusPool } from "../host/dbus-pool.js";
import { MountTable } from "../host/mount-table.js";
import type { Credentials } from "../host/dbus.js";

/*
 * Shared state, by who owns it (docs/architecture.md, "State"): the exporter owns a HostState for
 * its whole life, each watched user a TargetState for as long as the user is watched, and each
 * collection cycle a Cycle memo that is dropped when the cycle ends. Nothing else outlives a run.
 * This file knows no collector: what a collector keeps, it declares with its own factory (kept).
 */

/** A long-lived value of one collector: its name, and the factory that makes it on first use. */
export interface Kept<T> {
  readonly name: string;
  readonly create: () => T;
}

export function kept<T>(name: string, create: () => T): Kept<T> {
  return { name, create };
}

/** The values collectors keep in one owner (the host, or one watched user), each made once. */
class KeptValues {
  private readonly values = new Map<Kept<unknown>, unknown>();

  own<T>(slot: Kept<T>): T {
    if (!this.values.has(slot)) this.values.set(slot, slot.create());
    return this.values.get(slot) as T;
  }

  clear(): void {
    this.values.clear();
  }
}

/** What outlives a cycle and belongs to the host: the system bus, and what collectors keep. */
export class HostState {
  /** logind's system bus, one connection for every user's linger. */
  readonly systemBus = new DbusPool();
  private readonly kept = new KeptValues();

  /** `mounts`: which paths every host/ file read may read synchronously (local filesystems). */
  constructor(readonly mounts: MountTable = new MountTable()) {}

  /** The value `slot` keeps for the exporter's life, made by the slot's factory on first use. */
  own<T>(slot: Kept<T>): T {
    return this.kept.own(slot);
  }

  stop(): void {
    this.systemBus.closeAll();
    this.kept.clear();
  }
}

/** What outlives a cycle and belongs to one watched user; released when the user goes away. */
export class TargetState {
  /** The network driver found for a rootlesskit parent, by the parent's pid and start time. */
  knownDriver:
    { readonly key: string; readonly pid: number; readonly startTicks: number } | undefined;
  /** The user's own bus, connected with the user's credentials when the exporter is root. */
  readonly userBus: DbusPool;
  private readonly kept = new KeptValues();

  constructor(credentials: Credentials | undefined) {
    this.userBus = new DbusPool(credentials);
  }

  /** The value `slot` keeps for this user while watched, made by the slot's factory on first use. */
  own<T>(slot: Kept<T>): T {
    return this.kept.own(slot);
  }

  stop(): void {
    this.userBus.closeAll();
  }
}

/**
 * One collection cycle's memo, made by the scheduler and handed to every collector of the cycle:
 * what several collectors (or several users) need once a cycle is made on first use under its
 * key and shared by construction (the same object), never by two callers asking within a window.
 */
export class Cycle {
  private readonly memo = new Map<string, unknown>();

  /** The owners whose processes the scan reads the comm of: the users this cycle may watch. */
  constructor(readonly watched: (uid: number) => boolean) {}

  /** The value under `key` this cycle, made by `make` the first time it is asked for. */
  once<T>(key: string, make: () => T): T {
    // One lookup when the value is there (a promise, mostly): asked dozens of times a user.
    const known = this.memo.get(key);
    if (known !== undefined || this.memo.has(key)) return known as T;
    const value = make();
    this.memo.set(key, value);
    return value;
  }
}
