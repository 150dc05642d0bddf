import fc from "fast-check";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { SubidRange } from "../../src/collectors/subid/subid.js";
import {
  indexRanges,
  parseSubidFile,
  lastIndex,
  subidCollector,
  summaryFromIndex,
} from "../../src/collectors/subid/subid.js";
import { HostState } from "../../src/collectors/state.js";
import { parsePasswd } from "../../src/host/accounts.js";
import { collectorContext } from "../helpers/context.js";
import { alice as aliceAccount } from "../helpers/healthy-facts.js";

const passwd = parsePasswd(
  "alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n",
);
const alice = { name: "alice", uid: 1000 };

describe("parseSubidFile", () => {
  it.each([
    ["alice:100000:65536", [{ owner: "alice", start: 100000, count: 65536 }], []],
    ["1000:100000:65536\n", [{ owner: "1000", start: 100000, count: 65536 }], []],
    ["  alice:1:2  \r", [{ owner: "alice", start: 1, count: 2 }], []],
    ["\n\n# comment\n", [], []],
    ["alice:100000", [], ["expected owner:start:count, found 2 fields"]],
    ["alice:1:2:3", [], ["expected owner:start:count, found 4 fields"]],
    [":1:2", [], ["owner is empty or contains whitespace"]],
    ["al ice:1:2", [], ["owner is empty or contains whitespace"]],
    ["alice:-1:2", [], ['start "-1" is not a decimal number']],
    ["alice:1:0x10", [], ['count "0x10" is not a decimal number']],
    ["alice:1:0", [], ["count is 0"]],
    ["alice:4294967290:65536", [], ["range 4294967290+65536 goes past 4294967295"]],
    ["alice:99999999999:1", [], ['start "99999999999" is not a decimal number']],
  ])("%j", (text, ranges, reasons) => {
    const parsed = parseSubidFile(text);
    expect(parsed.ranges).toEqual(ranges);
    expect(parsed.errors.map((e) => e.reason)).toEqual(reasons);
  });

  it("keeps the good lines around bad ones and reports line numbers", () => {
    const parsed = parseSubidFile("alice:100000:65536\ngarbage\nbob:165536:65536\n");
    expect(parsed.ranges).toHaveLength(2);
    expect(parsed.errors).toEqual([
      { line: 2, reason: "expected owner:start:count, found 1 fields" },
    ]);
  });

  it("never throws on arbitrary input, and every line is either a range, an error or blank", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (text) => {
        const parsed = parseSubidFile(text);
        const trim = (l: string) => l.replace(/^[ \t\r\v\f]+|[ \t\r\v\f]+$/g, "");
        const lines = text
          .split("\n")
          .map(trim)
          .filter((l) => l !== "" && !l.startsWith("#"));
        expect(parsed.ranges.length + parsed.errors.length).toBe(lines.length);
      }),
    );
  });

  it("parses 100,000 lines", () => {
    const lines = Array.from(
      { length: 100_000 },
      (_, i) => `user${i}:${100_000 + i * 10_000}:10000`,
    );
    expect(parseSubidFile(lines.join("\n")).ranges).toHaveLength(100_000);
  });
});

/** The obvious quadratic reading of subuid(5), to check the indexed one against. */
function reference(ranges: readonly SubidRange[]) {
  const isOwn = (owner: string) => owner === "alice" || owner === "1000";
  const own = ranges.filter((r) => isOwn(r.owner));
  const overlaps = own.filter((mine) =>
    ranges.some(
      (other) =>
        !isOwn(other.owner) &&
        other.start < mine.start + mine.count &&
        mine.start < other.start + other.count,
    ),
  ).length;
  const ids = new Set<number>();
  for (const r of own) for (let id = r.start; id < r.start + r.count; id++) ids.add(id);
  return { size: ids.size, ranges: own.length, overlaps };
}

describe("the subordinate ID index", () => {
  const summary = (text: string) =>
    summaryFromIndex(indexRanges(parseSubidFile(text).ranges, passwd), alice);

  it.each([
    ["alice:100000:65536", { size: 65536, ranges: 1, overlaps: 0 }],
    ["1000:100000:65536", { size: 65536, ranges: 1, overlaps: 0 }],
    ["alice:100000:1000\n1000:300000:10", { size: 1010, ranges: 2, overlaps: 0 }],
    ["alice:100000:65536\nalice:100000:65536", { size: 65536, ranges: 2, overlaps: 0 }],
    ["alice:100000:65536\nbob:165535:10", { size: 65536, ranges: 1, overlaps: 1 }],
    ["alice:100000:65536\nbob:165536:10", { size: 65536, ranges: 1, overlaps: 0 }],
    ["alice:100000:65536\n1001:99990:11", { size: 65536, ranges: 1, overlaps: 1 }],
    ["alice:100000:65536\n1000:100000:10", { size: 65536, ranges: 2, overlaps: 0 }],
    ["bob:100000:65536", { size: 0, ranges: 0, overlaps: 0 }],
    ["", { size: 0, ranges: 0, overlaps: 0 }],
  ])("%j", (text, expected) => expect(summary(text)).toEqual(expected));

  it("agrees with the quadratic reading on random files, for every owner at once", () => {
    const range = fc.record({
      owner: fc.constantFrom("alice", "1000", "bob", "1001", "ghost"),
      start: fc.integer({ min: 0, max: 1000 }),
      count: fc.integer({ min: 1, max: 500 }),
    });
    fc.assert(
      fc.property(fc.array(range, { maxLength: 30 }), (ranges) => {
        const index = indexRanges(ranges, passwd);
        expect(summaryFromIndex(index, alice)).toEqual(reference(ranges));
      }),
    );
  });
});

describe("subid collector: summarized again only when a file changes", () => {
  const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-subid-"));
  const roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: dir };
  const notes: string[] = [];
  const host = new HostState();
  const collect = () =>
    subidCollector.collect(
      collectorContext(roots, aliceAccount, { host, note: (message) => notes.push(message) }),
    );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps the answer while the files stay, and sees an edit, a rename over and a passwd change", async () => {
    mkdirSync(join(dir, "etc"));
    writeFileSync(join(dir, "etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n");
    writeFileSync(join(dir, "etc/subuid"), "alice:100000:65536\nbroken line\n");
    writeFileSync(join(dir, "etc/subgid"), "alice:100000:65536\nbob:300000:65536\n");
    const first = await collect();
    expect(first.uid.summary?.size).toBe(65536);
    expect(first.uid.parseErrors).toBe(1);
    const noted = notes.length;
    expect(noted).toBeGreaterThan(0);
    // Unchanged: the same parse, and its notes given again (the log dedupes them).
    const index = host.own(lastIndex).last?.index;
    expect(index).toBeDefined();
    expect(await collect()).toEqual(first);
    expect(host.own(lastIndex).last?.index).toBe(index);
    expect(notes.slice(noted)).toEqual(notes.slice(0, noted));

    appendFileSync(join(dir, "etc/subuid"), "alice:300000:65536\nalias:500000:65536\n");
    expect((await collect()).uid.summary?.size).toBe(131072);

    // An editor's save: a new file renamed over the old one, same size.
    expect(first.gid.summary?.overlaps).toBe(0);
    writeFileSync(join(dir, "etc/subgid.new"), "alice:300000:65536\nbob:300000:65536\n");
    renameSync(join(dir, "etc/subgid.new"), join(dir, "etc/subgid"));
    expect((await collect()).gid.summary?.overlaps).toBe(1);

    // A second name for uid 1000 in passwd makes its range the user's own.
    appendFileSync(join(dir, "etc/passwd"), "alias:x:1000:1000::/home/alice:/bin/sh\n");
    expect((await collect()).uid.summary?.size).toBe(3 * 65536);
  });
});
