import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { subgidRange, subidOverlap, subuidRange } from "../../src/collectors/subid/checks.js";
import { libsubidAnswer, parseGetsubids } from "../../src/collectors/subid/libsubid.js";
import { parseSubidSource } from "../../src/collectors/subid/nsswitch.js";
import { subidParentMap } from "../../src/collectors/subid/parent-check.js";
import { describeRanges, idsOutside, parseIdMap } from "../../src/collectors/subid/parent-map.js";
import type { SubidAnswer } from "../../src/collectors/subid/subid.js";
import { subidCollector } from "../../src/collectors/subid/subid.js";
import type { ExecResult } from "../../src/host/exec.js";
import { runFile } from "../../src/host/exec.js";
import { isPlainLogin, runGetsubids } from "../../src/host/getsubids.js";
import { collectorContext } from "../helpers/context.js";
import { alice, healthyFacts, input } from "../helpers/healthy-facts.js";

describe("parseSubidSource: nsswitch.conf's subid line as shadow's nss_init reads it", () => {
  it.each([
    ["", {}],
    ["passwd: files\ngroup: files\n", {}],
    ["subid: files\n", {}],
    ["subid:\tsss\n", { module: "sss" }],
    ["SUBID: sss files\n", { module: "sss" }],
    ["subid: sss", { module: "sss" }],
    ["# subid: sss\nsubid: files\n", {}],
    // Leading blanks: not an entry for libsubid.
    ["  subid: sss\n", {}],
    // Shorter than 8 bytes with its newline: skipped, as shadow does.
    ["subid:x", {}],
    // An empty entry: libsubid goes on to the next line.
    ["subid:    \nsubid: ldapx\n", { module: "ldapx" }],
    ["subid: sss\nsubid: other\n", { module: "sss" }],
    ["subid: my_idm-1.2+x\n", { module: "my_idm-1.2+x" }],
  ])("%j", (text, expected) => expect(parseSubidSource(text)).toEqual({ ok: true, ...expected }));

  it.each([
    [
      "subid: ../../tmp/evil\n",
      "line 1: the subid module name (14 characters) is not a plain name",
    ],
    ["passwd: files\nsubid: sss,files\n", "line 2"],
    ["subid: -x\n", "not a plain name"],
    ["subid: s\0s\n", "holds a NUL byte"],
  ])("%j is a clear error", (text, detail) => {
    const parsed = parseSubidSource(text);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.detail).toContain(detail);
  });

  it("a module name over 50 characters is libsubid's files, with a note", () => {
    const parsed = parseSubidSource(`subid: ${"a".repeat(51)}\n`);
    expect(parsed).toMatchObject({ ok: true });
    expect(parsed.ok && parsed.module).toBeFalsy();
    expect(parsed.ok && parsed.note).toContain("longer than 50");
  });
});

describe("parseGetsubids: getsubids' `N: OWNER START COUNT` lines", () => {
  it.each([
    ["", []],
    ["0: alice 100000 65536\n", [{ start: 100000, count: 65536 }]],
    [
      "0: alice 100000 65536\n1: alice 300000 10\n",
      [
        { start: 100000, count: 65536 },
        { start: 300000, count: 10 },
      ],
    ],
  ])("%j", (stdout, ranges) =>
    expect(parseGetsubids(stdout, "alice")).toEqual({ ok: true, ranges }),
  );

  it.each([
    ["0: bob 100000 65536\n", "unexpected line 1"],
    ["1: alice 100000 65536\n", "unexpected line 1"],
    ["0: alice 100000\n", "unexpected line 1"],
    ["0: alice 100000 65536 7\n", "unexpected line 1"],
    ["0: alice -1 5\n", "unexpected line 1"],
    ["0: alice 4294967290 65536\n", "goes past 4294967295"],
    ["0: alice 1 1\ngarbage\n", "unexpected line 2"],
  ])("%j is refused", (stdout, detail) => {
    const parsed = parseGetsubids(stdout, "alice");
    expect(parsed.ok ? "" : parsed.detail).toContain(detail);
  });
});

describe("libsubidAnswer: what a finished getsubids says", () => {
  const ok = (stdout: string, stderr = ""): ExecResult => ({ ok: true, stdout, stderr });
  const failed = (code: number | undefined, stderr: string): ExecResult => ({
    ok: false,
    reason: "failed",
    detail: `Command failed ${stderr}`,
    ...(code !== undefined && { code }),
    stderr,
  });
  it.each<[string, ExecResult, unknown]>([
    ["ranges", ok("0: alice 5 6\n"), { state: "ranges", ranges: [{ start: 5, count: 6 }] }],
    ["none", failed(1, "Error fetching ranges\n"), { state: "ranges", ranges: [] }],
    [
      "the module cannot be loaded (shadow 4.13 and 4.17)",
      failed(
        1,
        "Error opening libsubid_gone.so: libsubid_gone.so: cannot open shared object file: No such file or directory\nUsing files\nError fetching ranges\n",
      ),
      {
        state: "fallback",
        detail:
          "Error opening libsubid_gone.so: libsubid_gone.so: cannot open shared object file: No such file or directory",
      },
    ],
    [
      "the module lacks a function, files have the ranges",
      ok("0: alice 5 6\n", "libsubid_x.so did not provide @find_subid_owners@\n"),
      { state: "fallback", detail: "libsubid_x.so did not provide @find_subid_owners@" },
    ],
    [
      "getsubids is not installed",
      { ok: false, reason: "missing", detail: "spawn ENOENT" },
      { state: "unknown", detail: expect.stringContaining("is not installed") },
    ],
    [
      "a timeout",
      { ok: false, reason: "timeout", detail: "/usr/bin/getsubids did not finish in time" },
      { state: "unknown", detail: "getsubids failed: /usr/bin/getsubids did not finish in time" },
    ],
    [
      "a crash, its stderr made printable",
      failed(139, "boom\u001b[31m\n"),
      { state: "unknown", detail: "getsubids failed: boom?[31m" },
    ],
    [
      "output that is not getsubids'",
      ok("hello\n"),
      { state: "unknown", detail: "getsubids printed an unexpected line 1" },
    ],
  ])("%s", (_name, result, expected) => expect(libsubidAnswer(result, "alice")).toEqual(expected));
});

describe("isPlainLogin: what may become getsubids' argument", () => {
  it.each([
    ["alice", true],
    ["a.b-c_d", true],
    ["machine$", true],
    ["1000", true],
    ["-g", false],
    ["--help", false],
    ["al ice", false],
    ["", false],
    ["a".repeat(33), false],
    ["ali\nce", false],
    ["élise", false],
  ])("%j: %s", (name, plain) => expect(isPlainLogin(name)).toBe(plain));
});

describe("runGetsubids and runFile: a fixed argv, as the user", () => {
  it("refuses a login of another shape before any process starts", async () => {
    const result = await runGetsubids("uid", "-h", { timeoutMs: 1000 });
    expect(result).toEqual({
      ok: false,
      reason: "failed",
      detail: "the login is not a plain name; getsubids was not run",
    });
  });

  it.skipIf(process.getuid?.() !== 0)(
    "runs with the credentials it is given (needs root)",
    async () => {
      const result = await runFile("/usr/bin/id", [], {
        timeoutMs: 5000,
        credentials: { uid: 65534, gid: 65534 },
      });
      expect(result.ok && result.stdout).toBe(
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
      );
    },
  );
});

describe("the exporter's own uid_map and gid_map", () => {
  it.each([
    ["         0          0 4294967295\n", [{ start: 0, count: 4294967295 }]],
    [
      "0 1000000 65536\n65536 2000000 10\n",
      [
        { start: 0, count: 65536 },
        { start: 65536, count: 10 },
      ],
    ],
  ])("parses %j", (text, ranges) => expect(parseIdMap(text)).toEqual({ ok: true, ranges }));

  it("refuses a line that is not three numbers", () =>
    expect(parseIdMap("0 0\n")).toEqual({
      ok: false,
      detail: 'line 1 is not "inside outside count"',
    }));

  it.each([
    [[{ start: 100000, count: 65536 }], [{ start: 0, count: 65536 }], 65536],
    [[{ start: 100000, count: 65536 }], [{ start: 0, count: 4294967295 }], 0],
    [[{ start: 60000, count: 10000 }], [{ start: 0, count: 65536 }], 4464],
    [
      [{ start: 0, count: 200 }],
      [
        { start: 0, count: 100 },
        { start: 100, count: 50 },
      ],
      50,
    ],
    [
      [
        { start: 0, count: 100 },
        { start: 50, count: 100 },
      ],
      [{ start: 0, count: 100 }],
      50,
    ],
    [[], [{ start: 0, count: 1 }], 0],
  ])("%j outside %j: %i", (ranges, map, outside) => expect(idsOutside(ranges, map)).toBe(outside));

  it("describes a map in a few words", () => {
    expect(describeRanges([{ start: 0, count: 65536 }])).toBe("0-65535");
    const many = [0, 10, 20, 30, 40].map((start) => ({ start, count: 5 }));
    expect(describeRanges(many)).toBe("0-4, 10-14, 20-24 and 2 more");
  });
});

describe("the subid checks on libsubid's answers", () => {
  const judge = (uid: SubidAnswer, gid?: SubidAnswer) => {
    const facts = healthyFacts();
    facts.subid = { ...facts.subid, answer: { uid, gid: gid ?? facts.subid.answer.gid } };
    const checks = [subuidRange, subgidRange, subidOverlap, subidParentMap];
    return Object.fromEntries(checks.map((c) => [c.id, c.evaluate(input(facts))]));
  };

  it("a module's ranges pass and say where they come from; overlaps are not guessed", () => {
    const v = judge({ source: "sss", size: 65536, ranges: 1, outsideParent: 0 });
    expect(v["subuid_range"]?.state).toBe("pass");
    expect(v["subuid_range"]?.summary.en).toBe(
      "alice has 65536 subordinate uids from the libsubid module sss.",
    );
    expect(v["subid_overlap"]?.state).toBe("unknown");
    expect(v["subid_parent_map"]?.state).toBe("pass");
  });

  it("a module that lists nothing fails with the module's remediation", () => {
    const v = judge({ source: "sss", size: 0, ranges: 0, outsideParent: 0 });
    expect(v["subuid_range"]?.state).toBe("fail");
    expect(v["subuid_range"]?.summary.en).toContain("from the libsubid module sss");
    expect(v["subuid_range"]?.remediation?.en).toContain("`getsubids alice`");
  });

  it("a module libsubid cannot load, over empty files, names the library", () => {
    const v = judge({
      source: "files",
      fallbackFrom: "gone",
      size: 0,
      ranges: 0,
      outsideParent: 0,
    });
    expect(v["subuid_range"]?.state).toBe("fail");
    expect(v["subuid_range"]?.summary.en).toContain("cannot use libsubid_gone.so");
    expect(v["subuid_range"]?.remediation?.["zh-CN"]).toContain("libsubid_gone.so");
  });

  it("an unknown answer is unknown, with the reason in the facts", () => {
    const v = judge({ detail: "getsubids failed: boom" });
    expect(v["subuid_range"]?.state).toBe("unknown");
    expect(v["subuid_range"]?.facts).toMatchObject({ detail: "getsubids failed: boom" });
    expect(v["subid_parent_map"]?.state).toBe("unknown");
  });

  it("ranges outside the exporter's namespace fail subid_parent_map, naming both kinds", () => {
    const outside = { source: "files", size: 65536, ranges: 1, outsideParent: 65536 };
    const v = judge({ ...outside, parentMap: "0-65535" }, { ...outside, parentMap: "0-65535" });
    expect(v["subid_parent_map"]?.state).toBe("fail");
    expect(v["subid_parent_map"]?.summary.en).toBe(
      'alice has subordinate IDs outside the user namespace the exporter runs in: 65536 uids (it maps uids 0-65535 only) and 65536 gids (it maps gids 0-65535 only); newuidmap and newgidmap fail with "write to uid_map failed: Operation not permitted".',
    );
    expect(v["subuid_range"]?.state).toBe("pass");
  });
});

describe("subid collector: source and parent map on a fixture root", () => {
  const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-subid-source-"));
  const roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: dir };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const collect = (notes: string[] = []) =>
    subidCollector.collect(
      collectorContext(roots, alice, {
        collector: subidCollector,
        note: (message) => notes.push(message),
      }),
    );

  it("reads the files without nsswitch.conf and judges them against /proc/self/uid_map", async () => {
    mkdirSync(join(dir, "etc"));
    mkdirSync(join(dir, "proc/self"), { recursive: true });
    writeFileSync(join(dir, "etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n");
    writeFileSync(join(dir, "etc/subuid"), "alice:100000:65536\n");
    writeFileSync(join(dir, "etc/subgid"), "alice:10000:65536\n");
    writeFileSync(join(dir, "proc/self/uid_map"), "0 1000000 65536\n");
    writeFileSync(join(dir, "proc/self/gid_map"), "0 0 4294967295\n");
    const facts = await collect();
    expect(facts.answer).toEqual({
      uid: { source: "files", size: 65536, ranges: 1, outsideParent: 65536, parentMap: "0-65535" },
      gid: { source: "files", size: 65536, ranges: 1, outsideParent: 0 },
    });
  });

  it("a module under --path.rootfs is unknown: getsubids runs on the exporter's own root", async () => {
    writeFileSync(join(dir, "etc/nsswitch.conf"), "passwd: files\nsubid: sss\n");
    const notes: string[] = [];
    const facts = await collect(notes);
    expect(facts.answer.uid.size).toBeUndefined();
    expect(facts.answer.uid.detail).toContain("names the subid module sss");
    expect(notes.join("\n")).toContain("--path.rootfs");
    // The files are still reported as they are.
    expect(facts.uid.summary?.size).toBe(65536);
  });

  it("a malformed nsswitch.conf leaves the answer unknown, saying why", async () => {
    writeFileSync(join(dir, "etc/nsswitch.conf"), "subid: a/b\n");
    const facts = await collect();
    expect(facts.answer.gid).toEqual({
      detail:
        "/etc/nsswitch.conf line 1: the subid module name (3 characters) is not a plain name of letters, digits, '_', '.', '+' or '-'",
    });
  });
});
