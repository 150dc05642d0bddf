import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readKernelText, statKernelPath } from "../../src/host/files.js";

const dir = mkdtempSync(join(tmpdir(), "rootless-exporter-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fileWith = (content: string | Buffer) => {
  const path = join(dir, `f${counter++}`);
  writeFileSync(path, content);
  return path;
};

describe("readKernelText (one shared read buffer)", () => {
  it.each([
    ["empty", ""],
    ["small", "btime 1700000000\n"],
    ["exactly the buffer", "x".repeat(64 * 1024)],
    ["one byte more", "y".repeat(64 * 1024 + 1)],
    ["several buffers", "0123456789abcdef\n".repeat(20_000)],
    // A 3-byte character across the 64 KiB boundary: decoded whole, not as two halves.
    ["a character across the boundary", `${"a".repeat(64 * 1024 - 1)}€${"b".repeat(10)}`],
  ])("%s", async (_name, content) => {
    expect(await readKernelText(fileWith(content))).toEqual({ ok: true, text: content });
  });

  it("reads back what was written, one file after another", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: "grapheme", maxLength: 3000 }), { maxLength: 4 }),
        async (texts) => {
          const paths = texts.map((text) => fileWith(text));
          const read = await Promise.all(paths.map((path) => readKernelText(path)));
          expect(read).toEqual(texts.map((text) => ({ ok: true, text })));
        },
      ),
      { numRuns: 50 },
    );
  });

  it("bounds the size and reports what went wrong", async () => {
    expect(await readKernelText(fileWith("z".repeat(100)), 99)).toMatchObject({
      ok: false,
      reason: "too_large",
    });
    expect(await readKernelText(join(dir, "absent"))).toMatchObject({
      ok: false,
      reason: "missing",
    });
    expect(await readKernelText(dir)).toMatchObject({ ok: false, reason: "not_a_file" });
    // Nothing of a refused read leaks into the next one.
    expect(await readKernelText(fileWith("after"))).toEqual({ ok: true, text: "after" });
  });
});

describe("statKernelPath", () => {
  it("a missing path is a reason, not an exception", async () => {
    expect(await statKernelPath(join(dir, "absent", "deeper"))).toMatchObject({
      ok: false,
      reason: "missing",
    });
    expect(await statKernelPath(join(fileWith("x"), "below-a-file"))).toMatchObject({
      ok: false,
      reason: "missing",
    });
    const found = await statKernelPath(dir);
    expect(found.ok && found.stats.isDirectory()).toBe(true);
  });
});
