import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const projectRoot = join(import.meta.dirname, "../..");
const read = (path: string): string => readFileSync(join(projectRoot, path), "utf8");

/** NAME=value pairs of the lines `pattern` matches (one pair a line). */
function pairs(text: string, pattern: RegExp): string[] {
  return text
    .split("\n")
    .map((line) => pattern.exec(line.trim())?.[1])
    .filter((pair): pair is string => pair !== undefined)
    .sort();
}

describe("the daemon's environment as deployed", () => {
  it("the image sets what the system unit sets (host mode both ways: the same memory)", () => {
    const unit = pairs(read("deploy/systemd/rootless-exporter.service"), /^Environment=(\S+)$/);
    const image = pairs(read("Dockerfile"), /^ENV (\S+=\S+)$/);
    expect(unit).toContain("MALLOC_MMAP_THRESHOLD_=131072");
    expect(image).toEqual(unit);
  });
});
