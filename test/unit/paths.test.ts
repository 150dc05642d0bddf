import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { procPath, rootPath, sysPath } from "../../src/host/paths.js";

/** Pieces that exercise every rule of path.join's normalization, and plain ones. */
const pieces = [
  "",
  "/",
  "//",
  ".",
  "..",
  "./",
  "../",
  "/.",
  "/..",
  "a",
  "/a",
  "a/",
  "a/b",
  "/a/b",
  "a//b",
  "a/./b",
  "a/../b",
  "./a",
  "../a",
  "/./a",
  "/../a",
  "a/.",
  "a/..",
  "...",
  "a/...",
  ".a",
  "a.",
  "/a/.b/c..",
  "\0x",
  "a b/ c",
];
const roots = ["/", "/r", "/r/", "/r/s", "//r", "/r/./s", "/r/..", "r", "", ".", "/tmp/x.y/..z"];

describe("host paths", () => {
  it("are exactly what path.join gives for two pieces put together", () => {
    for (const root of ["/", "/r", "/r/"])
      for (const a of pieces)
        for (const b of pieces) {
          const r = { procfs: root, sysfs: root, rootfs: root };
          expect(rootPath(r, `${a}/${b}`), `${root} + ${a}/${b}`).toBe(join(root, `${a}/${b}`));
          expect(rootPath(r, a + b), `${root} + ${a}${b}`).toBe(join(root, a + b));
        }
  });

  it("are exactly what path.join gives, for every root and piece", () => {
    for (const root of roots)
      for (const piece of pieces) {
        const r = { procfs: root, sysfs: root, rootfs: root };
        expect(rootPath(r, piece), `${root} + ${piece}`).toBe(join(root, piece));
        expect(procPath(r, piece), `${root} + ${piece}`).toBe(join(root, piece));
        expect(sysPath(r, piece), `${root} + ${piece}`).toBe(join(root, piece));
        expect(procPath(r, piece, "x"), `${root} + ${piece}`).toBe(join(root, piece, "x"));
      }
  });
});
