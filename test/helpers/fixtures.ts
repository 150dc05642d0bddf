import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "./daemon.js";

export const fixtureNames = ["broken", "debian12", "healthy"] as const;

export interface FixtureTree {
  readonly dir: string;
  readonly flags: readonly string[];
  readonly remove: () => void;
}

/**
 * Copies a fixture to a temporary directory and applies its modes.json (git keeps no setuid bits),
 * returning the --path.* flags that point the exporter at it.
 */
export function materializeFixture(name: string): FixtureTree {
  const source = join(projectRoot, "test/fixtures", name);
  const dir = mkdtempSync(join(tmpdir(), `rootless-exporter-${name}-`));
  cpSync(source, dir, { recursive: true });
  const modesFile = join(dir, "modes.json");
  if (existsSync(modesFile)) {
    const modes = JSON.parse(readFileSync(modesFile, "utf8")) as Record<string, string>;
    for (const [path, mode] of Object.entries(modes)) chmodSync(join(dir, path), parseInt(mode, 8));
  }
  return {
    dir,
    flags: [`--path.procfs=${dir}/proc`, `--path.sysfs=${dir}/sys`, `--path.rootfs=${dir}/root`],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
