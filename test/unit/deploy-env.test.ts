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

/** The options the system unit's `ExecStart=node ... dist/main.js` gives node, in order. */
function unitNodeOptions(unit: string): string[] {
  const exec = unit
    .split("\n")
    .map((line) => /^ExecStart=(.*)$/.exec(line.trim())?.[1])
    .filter((line): line is string => line !== undefined);
  expect(exec).toHaveLength(1);
  const words = (exec[0] ?? "").split(/\s+/);
  const script = words.findIndex((word) => word.endsWith("/dist/main.js"));
  expect(words[0]).toBe("node");
  expect(script).toBeGreaterThan(0);
  return words.slice(1, script);
}

/** The options the image's `ENTRYPOINT ["node", ..., ".../dist/main.js", ...]` gives node. */
function imageNodeOptions(dockerfile: string): string[] {
  const joined = dockerfile.replaceAll("\\\n", " ");
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(joined)?.[1];
  expect(entry).toBeDefined();
  const words = JSON.parse(entry ?? "[]") as string[];
  const script = words.findIndex((word) => word.endsWith("/dist/main.js"));
  expect(words[0]).toBe("node");
  expect(script).toBeGreaterThan(0);
  return words.slice(1, script);
}

describe("the daemon's environment as deployed", () => {
  it("the image sets what the system unit sets (host mode both ways: the same memory)", () => {
    const unit = pairs(read("deploy/systemd/rootless-exporter.service"), /^Environment=(\S+)$/);
    const image = pairs(read("Dockerfile"), /^ENV (\S+=\S+)$/);
    expect(unit).toContain("MALLOC_MMAP_THRESHOLD_=131072");
    expect(image).toEqual(unit);
  });

  it("the image gives node the options the system unit gives it (none today: see performance.md)", () => {
    const unit = unitNodeOptions(read("deploy/systemd/rootless-exporter.service"));
    expect(imageNodeOptions(read("Dockerfile"))).toEqual(unit);
    // bench/host-fixture.mjs's unitCommand() reads the options the same way: only --options.
    for (const option of unit) expect(option).toMatch(/^--\S+$/);
  });
});
