import { describe, expect, it } from "vitest";
import { YoungGenerationCap, heapFlags, heapFlagsFor } from "../../src/exporter/heap.js";

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

describe("YoungGenerationCap", () => {
  it("stops the young generation's growth once it reached the cap, and lets it grow below", () => {
    // This process's young generation is at least 1 MiB (two semi-spaces of 512 KiB at least).
    const reached = new YoungGenerationCap(1);
    expect(reached.check()).toBe(false);
    reached.stop();
    const below = new YoungGenerationCap(Number.MAX_SAFE_INTEGER);
    expect(below.check()).toBe(true);
    below.stop();
  });
});
