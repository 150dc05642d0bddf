import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot, seriesLines, startDaemon, waitForMetrics } from "./helpers/daemon.js";
import { fixtureNames, materializeFixture } from "./helpers/fixtures.js";
import { collectorList as collectors } from "../src/collectors/registry.js";

// Regenerate on purpose with: UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts
const update = process.env["UPDATE_GOLDEN"] === "1";
const isRoot = process.getuid?.() === 0;
const promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => existsSync(p));

/** Drops what changes from run to run: timings, timestamps and the Node version. */
export function normalize(body: string): string {
  return body
    .split("\n")
    .filter(
      (line) =>
        !/^rootless_collector_(duration_seconds|last_success_timestamp_seconds)\{/.test(line),
    )
    .map((line) =>
      line
        .replace(/nodejs_version="[^"]*"/, 'nodejs_version="NODE"')
        .replace(/version="\d+\.\d+\.\d+[^"]*"/, 'version="VERSION"'),
    )
    .join("\n");
}

// Fixture helpers are made setuid root on copy, which needs root (CI runs the suite as root).
describe.skipIf(!isRoot)("golden /metrics on fixture hosts", () => {
  for (const name of fixtureNames) {
    it(`${name} matches test/golden/${name}.prom`, async () => {
      const tree = materializeFixture(name);
      const daemon = await startDaemon([
        ...tree.flags,
        "--target.user=alice",
        "--web.disable-exporter-metrics",
      ]);
      try {
        const body = await waitForMetrics(
          daemon,
          (b) =>
            (b.match(/^rootless_collector_success\{/gm) ?? []).length ===
            collectors.filter((c) => c.defaultEnabled).length,
        );
        const golden = join(projectRoot, "test/golden", `${name}.prom`);
        if (update) writeFileSync(golden, normalize(body));
        expect(normalize(body)).toBe(readFileSync(golden, "utf8"));
        expect(seriesLines(body).some((l) => l.startsWith("process_"))).toBe(false);
        if (promtool) {
          // promtool check metrics reads stdin and exits non-zero on lint problems.
          execFileSync(promtool, ["check", "metrics"], { input: body });
        }
      } finally {
        expect(await daemon.stop()).toBe(0);
        tree.remove();
      }
    });
  }
});
