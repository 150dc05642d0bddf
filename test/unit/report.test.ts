import { describe, expect, it } from "vitest";
import { text } from "../../src/checks/finding.js";
import { renderReport } from "../../src/exporter/render/report.js";

describe("renderReport", () => {
  it("writes no control character a watched user's bus or files put in a summary", () => {
    const report = renderReport({
      findings: [
        {
          id: "dbus_user_bus",
          severity: "warning",
          scope: "user",
          state: "fail",
          summary: text("bus said \x1b]0;owned\x07\x1b[2J here", "总线 \x1b[2J"),
          remediation: text("line one\nline two \x9b31m", "修复"),
          facts: {},
        },
      ],
      user: "alice",
      uid: 1000,
      lang: "en",
      colour: false,
      collectorErrors: ["dbus: \x1b[31mred"],
    });
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(report).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(report).toContain("line one\n");
    expect(report).toContain("bus said \\u001b]0;owned\\u0007\\u001b[2J here");
  });
});
