import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapedProse, escapeInvisible, quoted, quotedMaxChars } from "../../src/checks/quoted.js";
import { reasonText } from "../../src/checks/reasons.js";

const invisible = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

describe("quoted", () => {
  it.each([
    ["slirp4netns", "slirp4netns"],
    ["/run/user/1000/docker.sock", "/run/user/1000/docker.sock"],
    ["", '""'],
    ["two words", '"two words"'],
    ['say "hi" \\', '"say \\"hi\\" \\\\"'],
    ["overlay2\nPASS     linger", '"overlay2\\nPASS     linger"'],
    ["a\r\tb", '"a\\r\\tb"'],
    ["x\u202eevil", '"x\\u202eevil"'],
    ["x\u2028y\u2029z", '"x\\u2028y\\u2029z"'],
    ["\u0085\u000b\u000c\u007f\u009b", '"\\u0085\\u000b\\u000c\\u007f\\u009b"'],
    [
      "\u061c\u200e\u200f\u202a\u2066\u2069\ufeff",
      '"\\u061c\\u200e\\u200f\\u202a\\u2066\\u2069\\ufeff"',
    ],
    ["tag\u{e0041}", '"tag\\udb40\\udc41"'],
    ["lone\ud800", '"lone\\ud800"'],
    ["中文驱动", '"中文驱动"'],
    ["emoji😀", '"emoji😀"'],
  ])("%j -> %s", (value, expected) => {
    expect(quoted(value)).toBe(expected);
  });

  it.each([
    ["a".repeat(quotedMaxChars + 5), `"${"a".repeat(quotedMaxChars)}"… (+5 characters)`],
    // A surrogate pair counts as one character and is never cut in half.
    ["😀".repeat(quotedMaxChars + 1), `"${"😀".repeat(quotedMaxChars)}"… (+1 characters)`],
  ])("caps a long value: %#", (value, expected) => {
    expect(quoted(value)).toBe(expected);
  });

  it("writes any string on one line, without invisible characters, as a JSON string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (value) => {
        const out = quoted(value);
        expect(out).not.toMatch(invisible);
        if (Array.from(value).length <= quotedMaxChars && out.startsWith('"'))
          expect(JSON.parse(out)).toBe(value);
      }),
      { numRuns: 500 },
    );
  });
});

describe("escapeInvisible and escapedProse", () => {
  it.each([
    ["plain prose, kept", "plain prose, kept"],
    ['keeps \\ and " as they are', 'keeps \\ and " as they are'],
    ["a\nb", "a\\nb"],
    ["\x1b[31mred", "\\u001b[31mred"],
    ["r\u202eл", "r\\u202eл"],
  ])("escapeInvisible(%j) -> %s", (value, expected) => {
    expect(escapeInvisible(value)).toBe(expected);
  });

  it("bounds a bus's error text", () => {
    expect(escapedProse(`${"e".repeat(1000)}`)).toBe(`${"e".repeat(400)}… (+600 characters)`);
  });
});

describe("reasonText escapes in both languages", () => {
  it.each([
    // A rule's capture group holds the user's part: escaped before the rule sees it.
    ["/run/u\u202e/child_pid is held by no live process", "/run/u\\u202e/child_pid"],
    // No rule: the peer's own message, quoted as code in Chinese.
    ["org.x.Error: denied\nPASS     all", "org.x.Error: denied\\nPASS     all"],
  ])("%j", (reason, shown) => {
    const t = reasonText(reason);
    for (const lang of ["en", "zh-CN"] as const) {
      expect(t[lang]).toContain(shown);
      expect(t[lang]).not.toMatch(invisible);
    }
  });
});
