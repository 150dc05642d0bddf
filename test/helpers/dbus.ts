import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import type { Message, MessageBus } from "dbus-next";
import { DBusError, interface as dbusInterface, sessionBus } from "dbus-next";

/** A private dbus-daemon listening on a socket in `dir`, for tests. */
export interface PrivateBus {
  readonly address: string;
  readonly socket: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export async function startPrivateBus(dir: string, name: string): Promise<PrivateBus> {
  const socket = join(dir, `${name}.sock`);
  const config = join(dir, `${name}.conf`);
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`,
  );
  const child = spawn("dbus-daemon", [`--config-file=${config}`, "--nofork", "--nopidfile"], {
    stdio: "ignore",
  });
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 10));
  if (!existsSync(socket)) throw new Error(`dbus-daemon did not create ${socket}`);
  return {
    address: `unix:path=${socket}`,
    socket,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const { Interface } = dbusInterface;

/** org.freedesktop.login1 with users whose Linger the test sets; unknown uids get NoSuchUser. */
export class Login1Double {
  readonly linger = new Map<number, boolean>();
  /** When set, GetUser never answers (a hung logind). */
  hang = false;
  /** When set, users live at /org/freedesktop/login1/user/uUID instead of logind's _UID. */
  otherPaths = false;
  private bus: MessageBus | undefined;

  async serve(address: string): Promise<void> {
    const bus = sessionBus({ busAddress: address });
    bus.on("error", () => undefined);
    this.bus = bus;
    const isHung = () => this.hang;
    const pathOf = (uid: number) =>
      `/org/freedesktop/login1/user/${this.otherPaths ? "u" : "_"}${uid}`;
    const linger = this.linger;
    class Manager extends Interface {
      GetUser(uid: number): Promise<string> | string {
        if (isHung()) return new Promise(() => undefined);
        if (!linger.has(uid))
          throw new DBusError("org.freedesktop.login1.NoSuchUser", `No user ${uid} known`);
        return pathOf(uid);
      }
    }
    Manager.configureMembers({ methods: { GetUser: { inSignature: "u", outSignature: "o" } } });
    const usesOtherPaths = () => this.otherPaths;
    class User extends Interface {
      constructor(
        private readonly uid: number,
        private readonly otherPath: boolean,
      ) {
        super("org.freedesktop.login1.User");
      }
      get Linger(): boolean {
        // Only the object at the path GetUser currently answers exists.
        if (this.otherPath !== usesOtherPaths())
          throw new DBusError("org.freedesktop.DBus.Error.UnknownObject", "no such object");
        return linger.get(this.uid) ?? false;
      }
    }
    User.configureMembers({ properties: { Linger: { signature: "b", access: "read" } } });
    await bus.requestName("org.freedesktop.login1", 0);
    bus.export("/org/freedesktop/login1", new Manager("org.freedesktop.login1.Manager"));
    for (const uid of new Set([0, 1000, 1001, 1002, process.getuid?.() ?? 0, ...linger.keys()])) {
      bus.export(`/org/freedesktop/login1/user/_${uid}`, new User(uid, false));
      bus.export(`/org/freedesktop/login1/user/u${uid}`, new User(uid, true));
    }
  }

  stop(): void {
    this.bus?.disconnect();
  }
}

/** systemd's unit object path: sd_bus_path_encode, [A-Za-z] kept and [0-9] after the first. */
const unitPath = (unit: string) =>
  `/org/freedesktop/systemd1/unit/${Array.from(unit, (c, i) => (/[A-Za-z]/.test(c) || (i > 0 && /[0-9]/.test(c)) ? c : `_${c.charCodeAt(0).toString(16).padStart(2, "0")}`)).join("") || "_"}`;
const unitOfPath = (path: string) =>
  path
    .slice("/org/freedesktop/systemd1/unit/".length)
    .replace(/_([0-9a-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/**
 * org.freedesktop.systemd1 with units whose ActiveState, UnitFileState and NRestarts the test
 * sets. As systemd's find_unit, a Get on a unit's path loads the unit.
 */
export class Systemd1Double {
  readonly states = new Map<string, string>();
  /** UnitFileState; "" (systemd's answer for a unit without a unit file) when not set. */
  readonly fileStates = new Map<string, string>();
  /** NRestarts of services; 0 when not set. */
  readonly restarts = new Map<string, number>();
  /** Names that are aliases of another unit (dbus.service -> dbus-broker.service on Fedora). */
  readonly aliases = new Map<string, string>();
  /** ManagedOOMMemoryPressure of units (a .service's or a .slice's), exported when serving. */
  readonly oomPressure = new Map<string, string>();
  /** A manager older than systemd 230, without ListUnitsByNames. */
  legacy = false;
  /** A manager older than systemd 235: Service has no NRestarts. */
  noNRestarts = false;
  /** Calls left unanswered: the properties' Gets only, or every call to the manager. */
  hang: "none" | "properties" | "all" = "none";
  /** ListUnitsByNames answers after this long: what was sent before its answer did not wait. */
  listDelayMs = 0;
  /** Each method call as it arrived, and when ListUnitsByNames answered (performance.now()). */
  readonly arrivals: { readonly member: string; readonly at: number }[] = [];
  listAnsweredAt: number[] = [];
  /** How many LoadUnit calls were answered (one per unit on the legacy path only). */
  loadUnitCalls = 0;
  private bus: MessageBus | undefined;

  async serve(address: string): Promise<void> {
    const bus = sessionBus({ busAddress: address });
    bus.on("error", () => undefined);
    this.bus = bus;
    const states = this.states;
    const fileStates = this.fileStates;
    const restarts = this.restarts;
    const hasNRestarts = () => !this.noNRestarts;
    const exported = new Set<string>();
    class Unit extends Interface {
      constructor(private readonly unit: string) {
        super("org.freedesktop.systemd1.Unit");
      }
      get ActiveState(): string {
        return states.get(this.unit) ?? "inactive";
      }
      get UnitFileState(): string {
        return fileStates.get(this.unit) ?? "";
      }
    }
    Unit.configureMembers({
      properties: {
        ActiveState: { signature: "s", access: "read" },
        UnitFileState: { signature: "s", access: "read" },
      },
    });
    const oomPressure = this.oomPressure;
    class Service extends Interface {
      constructor(private readonly unit: string) {
        super("org.freedesktop.systemd1.Service");
      }
      get NRestarts(): number {
        if (!hasNRestarts())
          throw new DBusError("org.freedesktop.DBus.Error.UnknownProperty", "Unknown property");
        return restarts.get(this.unit) ?? 0;
      }
      get ManagedOOMMemoryPressure(): string {
        return oomPressure.get(this.unit) ?? "auto";
      }
    }
    Service.configureMembers({
      properties: {
        NRestarts: { signature: "u", access: "read" },
        ManagedOOMMemoryPressure: { signature: "s", access: "read" },
      },
    });
    class Slice extends Interface {
      constructor(private readonly unit: string) {
        super("org.freedesktop.systemd1.Slice");
      }
      get ManagedOOMMemoryPressure(): string {
        return oomPressure.get(this.unit) ?? "auto";
      }
    }
    Slice.configureMembers({
      properties: { ManagedOOMMemoryPressure: { signature: "s", access: "read" } },
    });
    const aliases = this.aliases;
    const isLegacy = () => this.legacy;
    const counted = () => void this.loadUnitCalls++;
    const load = (name: string): [string, string] => {
      const unit = aliases.get(name) ?? name;
      for (const path of new Set([unitPath(unit), unitPath(name)])) {
        if (exported.has(path)) continue;
        bus.export(path, new Unit(unit));
        if (unit.endsWith(".service")) bus.export(path, new Service(unit));
        else if (unit.endsWith(".slice")) bus.export(path, new Slice(unit));
        exported.add(path);
      }
      return [unit, unitPath(unit)];
    };
    // Ahead of dbus-next's own dispatch of every call to the manager: record it, hang, and load
    // a unit asked for by its path.
    bus.addMethodHandler((msg: Message) => {
      this.arrivals.push({ member: msg.member ?? "", at: performance.now() });
      if (this.hang === "all") return true;
      const property = msg.interface === "org.freedesktop.DBus.Properties";
      if (property && this.hang === "properties") return true;
      if (property && msg.path?.startsWith("/org/freedesktop/systemd1/unit/"))
        load(unitOfPath(msg.path));
      return false;
    });
    const listDelay = () => this.listDelayMs;
    const answered = (at: number) => void this.listAnsweredAt.push(at);
    class Manager extends Interface {
      LoadUnit(unit: string): string {
        counted();
        return load(unit)[1];
      }
      // name, description, load, active, sub, following, path, job id, job type, job path
      async ListUnitsByNames(names: string[]): Promise<unknown[]> {
        if (isLegacy())
          throw new DBusError("org.freedesktop.DBus.Error.UnknownMethod", "no ListUnitsByNames");
        const entries = names.map((name) => {
          const [unit, path] = load(name);
          const active = states.get(unit) ?? "inactive";
          return [unit, "", "loaded", active, active, "", path, 0, "", "/"];
        });
        if (listDelay() > 0) await new Promise((r) => setTimeout(r, listDelay()));
        answered(performance.now());
        return entries;
      }
    }
    Manager.configureMembers({
      methods: {
        LoadUnit: { inSignature: "s", outSignature: "o" },
        ListUnitsByNames: { inSignature: "as", outSignature: "a(ssssssouso)" },
      },
    });
    // systemd loads a unit when its object path is read (`systemctl show`): these are there at once.
    for (const unit of new Set([...states.keys(), ...oomPressure.keys()])) load(unit);
    await bus.requestName("org.freedesktop.systemd1", 0);
    bus.export("/org/freedesktop/systemd1", new Manager("org.freedesktop.systemd1.Manager"));
  }

  stop(): void {
    this.bus?.disconnect();
  }
}
