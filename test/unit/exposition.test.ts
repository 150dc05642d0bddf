import { describe, expect, it } from "vitest";
import { exposition } from "../../src/exporter/render/exposition.js";
import { SampleSet } from "../../src/exporter/render/sample-set.js";

describe("exposition", () => {
  it("escapes label values, writes special values, keeps a user gauge's last value and a host series' first", () => {
    const set = new SampleSet();
    set.add("targetInfo", { user: 'a"b', uid: "1", runtime_dir: "C:\\x\ny" }, 1);
    set.add("pingAllowed", { user: "a" }, 0);
    set.add("pingAllowed", { user: "a" }, 1);
    set.add("collectorErrors", { collector: "dbus" }, 2);
    set.add("collectorErrors", { collector: "dbus" }, 3);
    set.add("collectorDuration", { collector: "x" }, Number.NaN);
    set.add("collectorDuration", { collector: "y" }, Number.POSITIVE_INFINITY);
    const text = exposition(set);
    expect(text).toContain(
      'rootless_target_info{user="a\\"b",uid="1",runtime_dir="C:\\\\x\\ny"} 1\n',
    );
    expect(text).toContain('rootless_ping_allowed{user="a"} 1\n');
    expect(text).not.toContain('rootless_ping_allowed{user="a"} 0');
    // A series without a user label is the host's: every user's view adds it, the first stays.
    expect(text).toContain('rootless_collector_errors_total{collector="dbus"} 2\n');
    expect(text).toContain('rootless_collector_duration_seconds{collector="x"} NaN\n');
    expect(text).toContain('rootless_collector_duration_seconds{collector="y"} +Inf\n');
    expect(text).toMatch(/^# HELP rootless_target_info .*\n# TYPE rootless_target_info gauge\n/);
    expect(text.endsWith("\n")).toBe(true);
    expect(text).toContain("\n\n# HELP rootless_ping_allowed");
  });

  it("writes labels in the catalogue's order whatever the order they were given in", () => {
    const set = new SampleSet();
    set.add("targetInfo", { runtime_dir: "/r", uid: "7", user: "u" }, 1);
    expect(exposition(set)).toContain('rootless_target_info{user="u",uid="7",runtime_dir="/r"} 1');
  });
});
