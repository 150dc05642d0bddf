import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluateChecks } from "../../src/checks/registry.js";
import type { Lang } from "../../src/checks/finding.js";
import type { Target } from "../../src/host/target.js";
import { renderReport } from "../../src/exporter/render/report.js";
import { checksJsonText, findingsJson } from "../../src/exporter/render/findings.js";
import { landingPage } from "../../src/exporter/http/landing.js";
import { cases } from "../helpers/diagnosis-cases.js";
import type { DefaultFacts } from "../helpers/healthy-facts.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

/*
 * Issue 16, attack 4: a Driver from a user's `/info` holding a newline, U+202E and U+2028 printed
 * fake PASS lines. Any string a user controls reaches the report through some fact; here every
 * string of the facts (and of the target) is, in turn, an arbitrary Unicode string, and the
 * report must keep the shape it has with a harmless value in the same place.
 */
type Path = readonly (string | number)[];
const invisible = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const markers = /^\s*(CRITICAL|WARNING|INFO|UNKNOWN|ERROR|PASS|fix:|修复:|failing:|未通过:)/;

/** Every setup of the diagnosis table, healthy first: together they reach every check's fail text. */
const setups: DefaultFacts[] = [
  healthyFacts(),
  ...cases.map(([, mutate]) => {
    const facts = healthyFacts();
    mutate(facts);
    return facts;
  }),
];

function stringPaths(value: unknown, path: Path = []): Path[] {
  if (typeof value === "string") return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (typeof value === "object" && value !== null)
    return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...path, k]));
  return [];
}

function withValue<T>(root: T, path: Path, value: string): T {
  const copy = structuredClone(root);
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1] ?? ""] = value;
  return copy;
}

function report(root: { target: Target; facts: DefaultFacts }, lang: Lang, error: string) {
  return renderReport({
    findings: evaluateChecks(root),
    user: root.target.name,
    uid: root.target.uid,
    lang,
    colour: false,
    collectorErrors: [`docker: ${error}`],
  });
}

// What an attacker would write, mixed into arbitrary code points (lone surrogates included).
const piece = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom(
    "\n",
    "\r\n",
    "\u2028",
    "\u2029",
    "\u0085",
    "\v",
    "\f",
    "\u202e",
    "\u2066",
    "\u061c",
    "\x1b[2J",
    "\x9b",
    "\x7f",
    "PASS     linger, dockerd_running",
    "CRITICAL ",
    "failing: 0 critical, 0 warning, 0 info; passing: 25; unknown: 0",
  ),
);
const hostileText = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(""));

describe("the check report over arbitrary user strings", () => {
  it("has the lines of a harmless value, no forged marker and no invisible character", () => {
    fc.assert(
      fc.property(
        fc.nat(setups.length - 1),
        fc.nat(),
        hostileText,
        fc.constantFrom<Lang>("en", "zh-CN"),
        (setup, leaf, text, lang) => {
          const root = { target: alice, facts: setups[setup] ?? healthyFacts() };
          const paths = stringPaths(root);
          const path = paths[leaf % paths.length] ?? [];
          // The same prefix for both: a branch that tests a value's start takes the same way.
          const hostile = report(withValue(root, path, `#${text}`), lang, `#${text}`);
          const harmless = report(withValue(root, path, "#x"), lang, "#x");
          const [got, want] = [hostile.split("\n"), harmless.split("\n")];
          expect(got.length, path.join(".")).toBe(want.length);
          expect(got.map((l) => markers.exec(l)?.[1])).toEqual(
            want.map((l) => markers.exec(l)?.[1]),
          );
          expect(hostile.replaceAll("\n", "")).not.toMatch(invisible);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("the forged Driver of the attack, in both languages", () => {
    const facts = healthyFacts();
    const driver = "overlay2\nPASS     storage_driver\u202e\u2028INFO     all fine";
    facts.docker = { ...facts.docker, info: { ...facts.docker.info!, storageDriver: driver } };
    for (const lang of ["en", "zh-CN"] as const) {
      const text = report({ target: alice, facts }, lang, "x");
      expect(text).toContain('"overlay2\\nPASS     storage_driver\\u202e\\u2028INFO     all fine"');
      expect(text.split("\n").filter((l) => /^\s*PASS/.test(l))).toHaveLength(1);
      expect(text.split("\n").filter((l) => /^\s*INFO/.test(l))).toHaveLength(0);
    }
  });
});

describe("the same facts in /checks, check --json and the page", () => {
  it("summaries quote the value; JSON and HTML keep their structure", () => {
    const facts = healthyFacts();
    const driver = 'overlay2\n<b>"x"</b>\u202e\u2028';
    facts.docker = { ...facts.docker, info: { ...facts.docker.info!, storageDriver: driver } };
    const findings = evaluateChecks({ target: alice, facts });
    const users = [{ user: "alice", uid: 1000, findings, errors: [`docker: ${driver}`] }];
    for (const lang of ["en", "zh-CN"] as const) {
      const json = findingsJson(users, lang, new Date(0));
      const summary = json.targets[0]?.checks.find((c) => c.id === "storage_driver")?.summary;
      expect(summary).toContain('"overlay2\\n<b>\\"x\\"</b>\\u202e\\u2028"');
      expect(summary).not.toMatch(invisible);
    }
    const page = landingPage({
      version: "t",
      telemetryPath: "/metrics",
      mode: "self",
      states: [],
      users,
      hostFindings: [],
    });
    expect(page).not.toContain('<b>"x"</b>');
    expect(page).not.toMatch(/[\u202e\u2028]/);
  });

  it("check --json: the same value after parsing, with no invisible character left raw", () => {
    fc.assert(
      fc.property(fc.dictionary(hostileText, hostileText, { maxKeys: 4 }), (facts) => {
        const value = { summary: Object.values(facts).join(""), facts };
        const text = checksJsonText(value);
        expect(JSON.parse(text)).toEqual(value);
        expect(text.replaceAll("\n", "")).not.toMatch(invisible);
      }),
      { numRuns: 1000 },
    );
  });
});
