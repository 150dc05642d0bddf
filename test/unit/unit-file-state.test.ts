import { describe, expect, it } from "vitest";
import { dockerServiceEnabled } from "../../src/checks/docker-service.js";
import type { UnitFact } from "../../src/collectors/dbus/dbus.js";
import { addDbus } from "../../src/collectors/dbus/module.js";
import { fileStateLabel, unitObjectPath } from "../../src/collectors/dbus/unit-properties.js";
import { healthyFacts, input } from "../helpers/healthy-facts.js";

// issue 21: NRestarts and UnitFileState of the user's docker.service.
describe("dbus unit properties", () => {
  it.each([
    ["docker.service", "/org/freedesktop/systemd1/unit/docker_2eservice"],
    ["user@1000.service", "/org/freedesktop/systemd1/unit/user_401000_2eservice"],
    ["9p.mount", "/org/freedesktop/systemd1/unit/_39p_2emount"],
    ["a-b:c.socket", "/org/freedesktop/systemd1/unit/a_2db_3ac_2esocket"],
    ["", "/org/freedesktop/systemd1/unit/_"],
  ])("object path of %j is systemd's %s", (unit, path) => {
    expect(unitObjectPath(unit)).toBe(path);
  });

  it.each([
    ["enabled", "enabled"],
    ["masked-runtime", "masked-runtime"],
    ["alias", "alias"],
    ["Enabled", "other"],
    ['enabled"} 1\nrootless_x{a="', "other"],
  ])("UnitFileState %j is labelled %s", (state, label) => {
    expect(fileStateLabel(state)).toBe(label);
  });

  const rendered = (units: UnitFact[]) => {
    const series: string[] = [];
    addDbus(
      {
        add: (metric, labels, value) =>
          void series.push(`${metric}${JSON.stringify(labels)} ${value}`),
      },
      "alice",
      { address: "unix:path=/run/user/1000/bus", busUp: true, units },
    );
    return series.filter(
      (s) => !s.startsWith("dbusUserBus") && !s.startsWith("systemdUserUnitState"),
    );
  };

  it("serves NRestarts as a counter and one state of the closed set as 1", () => {
    const series = rendered([
      { unit: "docker.service", activeState: "active", restarts: 4, fileState: "disabled" },
    ]);
    expect(series).toContain('systemdUserUnitRestarts{"user":"alice","unit":"docker.service"} 4');
    expect(series.filter((s) => s.endsWith(" 1"))).toEqual([
      'systemdUserUnitFileState{"user":"alice","unit":"docker.service","state":"disabled"} 1',
    ]);
    expect(series.filter((s) => s.startsWith("systemdUserUnitFileState"))).toHaveLength(14);
  });

  it("leaves out what the manager did not say, never 0", () => {
    expect(rendered([{ unit: "docker.service", activeState: "active" }])).toEqual([]);
  });

  it("an undocumented state is served as other, never echoed", () => {
    const series = rendered([{ unit: "x.service", activeState: "active", fileState: "weird\n" }]);
    expect(series.filter((s) => s.endsWith(" 1"))).toEqual([
      'systemdUserUnitFileState{"user":"alice","unit":"x.service","state":"other"} 1',
    ]);
  });
});

describe("docker_service_enabled", () => {
  const judged = (docker: UnitFact | undefined, systemdBooted = true) => {
    const facts = healthyFacts();
    facts.dbus = { ...facts.dbus, units: docker ? [docker] : [] };
    facts.kernel = { ...facts.kernel, systemdBooted };
    return dockerServiceEnabled.evaluate(input(facts));
  };
  const unit = "docker.service";

  it.each<[string, UnitFact | undefined, boolean, string]>([
    ["active and enabled", { unit, activeState: "active", fileState: "enabled" }, true, "pass"],
    ["active and static", { unit, activeState: "active", fileState: "static" }, true, "pass"],
    ["active and disabled", { unit, activeState: "active", fileState: "disabled" }, true, "fail"],
    [
      "enabled for this boot only",
      { unit, activeState: "active", fileState: "enabled-runtime" },
      true,
      "fail",
    ],
    ["active and masked", { unit, activeState: "active", fileState: "masked" }, true, "fail"],
    ["an undocumented state", { unit, activeState: "active", fileState: "weird" }, true, "fail"],
    [
      "failed and disabled: docker_service's",
      { unit, activeState: "failed", fileState: "disabled" },
      true,
      "pass",
    ],
    [
      "active, state not given (systemd < 235 timeout)",
      { unit, activeState: "active" },
      true,
      "unknown",
    ],
    ["no user manager", undefined, true, "unknown"],
    ["no systemd as init", undefined, false, "pass"],
  ])("%s: %s", (_name, docker, booted, state) => {
    expect(judged(docker, booted).state).toBe(state);
  });

  it("says what is wrong and how to fix it in both languages, the state quoted", () => {
    const verdict = judged({ unit, activeState: "active", fileState: 'x"\u202e' });
    expect(verdict.summary.en).toBe(
      'docker.service is active but not enabled (its unit file is "x\\"\\u202e"): it will not come back after a reboot.',
    );
    expect(verdict.remediation?.en).toContain("systemctl --user enable docker");
    expect(verdict.remediation?.["zh-CN"]).toContain("systemctl --user enable docker");
  });
});
