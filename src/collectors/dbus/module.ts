import type { MetricDef, Sink } from "../module.js";
import { bool, collectorModule, counter, gauge } from "../module.js";
import type { Target } from "../collector.js";
import { dbusCollector, unitStates } from "./dbus.js";
import type { DbusFacts } from "./dbus.js";
import { dbusUserBus } from "./checks.js";
import { fileStateLabel, otherFileState, unitFileStates } from "./unit-properties.js";

const fileStateLabels = [...unitFileStates, otherFileState] as const;

const metrics = {
  dbusUserBusUp: gauge(
    "rootless_dbus_user_bus_up",
    ["user"],
    "Whether the user's D-Bus session bus answered a Ping in time.",
  ),
  dbusUserBusPing: gauge(
    "rootless_dbus_user_bus_ping_seconds",
    ["user"],
    "Round trip of that Ping.",
  ),
  systemdUserUnitState: gauge(
    "rootless_systemd_user_unit_state",
    ["user", "unit", "state"],
    "1 for the user unit's ActiveState, 0 for the other states.",
  ),
  systemdUserUnitRestarts: counter(
    "rootless_systemd_user_unit_restarts_total",
    ["user", "unit"],
    "Restarts of the user service by its Restart= setting: systemd's NRestarts (systemd >= 235).",
  ),
  systemdUserUnitFileState: gauge(
    "rootless_systemd_user_unit_file_state",
    ["user", "unit", "state"],
    "1 for the user unit's UnitFileState, 0 for the other states (other: a value systemd does not document).",
  ),
} as const satisfies Record<string, MetricDef>;

type Out = Sink<keyof typeof metrics>;

export function addDbus(out: Out, user: string, facts: DbusFacts): void {
  out.add("dbusUserBusUp", { user }, bool(facts.busUp));
  if (facts.pingSeconds !== undefined) out.add("dbusUserBusPing", { user }, facts.pingSeconds);
  for (const unit of facts.units ?? []) {
    if (unit.activeState === undefined) continue;
    for (const state of unitStates) {
      out.add(
        "systemdUserUnitState",
        { user, unit: unit.unit, state },
        bool(unit.activeState === state),
      );
    }
  }
  for (const unit of facts.units ?? []) {
    if (unit.restarts !== undefined)
      out.add("systemdUserUnitRestarts", { user, unit: unit.unit }, unit.restarts);
    if (unit.fileState === undefined) continue;
    const current = fileStateLabel(unit.fileState);
    for (const state of fileStateLabels)
      out.add(
        "systemdUserUnitFileState",
        { user, unit: unit.unit, state },
        bool(current === state),
      );
  }
}

export const dbusModule = collectorModule({
  name: "dbus",
  collector: dbusCollector,
  metrics,
  render: (out, target: Target, facts) => addDbus(out, target.name, facts),
  checks: [dbusUserBus],
});
