import { afterEach, describe, expect, it, vi } from "vitest";
import type { Finding } from "../../src/checks/finding.js";
import type { UserFindings } from "../../src/exporter/render/findings.js";
import { byCodeUnits, findingsJson, worstFirst } from "../../src/exporter/render/findings.js";

const failing = (severity: Finding["severity"]): Finding =>
  ({
    id: `x_${severity}`,
    severity,
    scope: "user",
    state: "fail",
    summary: { en: "x", "zh-CN": "x" },
    facts: {},
  }) as unknown as Finding;
const user = (name: string, findings: Finding[] = []): UserFindings => ({
  user: name,
  uid: 1000,
  findings,
  errors: [],
});

afterEach(() => vi.restoreAllMocks());

describe("worstFirst: users of the same rank by their names' code units", () => {
  it("the order of code units, not a locale's collation", () => {
    const names = ["alice", "Bob", "a_b", "a1", "a-b", "zoë", "zoe", "10", "9", "Ärger"];
    const order = worstFirst(names.map((n) => user(n))).map((u) => u.user);
    expect(order).toEqual(["10", "9", "Bob", "a-b", "a1", "a_b", "alice", "zoe", "zoë", "Ärger"]);
    expect([...names].sort(byCodeUnits)).toEqual(order);
    expect(byCodeUnits("a", "a")).toBe(0);
  });

  it("rank first, then the name; without localeCompare", () => {
    const compare = vi.spyOn(String.prototype, "localeCompare");
    const list = [
      user("carol"),
      user("bob", [failing("warning")]),
      user("alice"),
      user("dave", [failing("critical")]),
      user("Eve", [failing("warning")]),
    ];
    expect(worstFirst(list).map((u) => u.user)).toEqual(["dave", "Eve", "bob", "alice", "carol"]);
    const json = findingsJson(list, "en", new Date(0));
    expect(json.targets.map((t) => t.user)).toEqual(["dave", "Eve", "bob", "alice", "carol"]);
    expect(compare).not.toHaveBeenCalled();
  });
});
