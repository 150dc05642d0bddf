import { describe, expect, it } from "vitest";
import { heapFlags, heapFlagsFor } from "../../src/exporter/heap.js";

describe("V8 heap sizing at start", () => {
  it("sets both flags when node was given no heap option", () => {
    expect(heapFlagsFor([], undefined)).toEqual(heapFlags);
    expect(heapFlagsFor(["--enable-source-maps"], "--import=/x.mjs")).toEqual(heapFlags);
  });

  it.each([
    [["--max-semi-space-size=4"], undefined],
    [["--max_old_space_size=512"], undefined],
    [[], "--max-old-space-size=96"],
    [["--optimize-for-size"], ""],
  ])("leaves a heap option given by hand alone: %j %j", (execArgv, nodeOptions) => {
    expect(heapFlagsFor(execArgv, nodeOptions)).toEqual([]);
  });
});
