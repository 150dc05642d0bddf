import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "./daemon.js";

export const fixtureNames = ["broken", "debian12", "healthy"] as const;

export interface FixtureTree {
  readonly dir: string;
  readonly flags: readonly string[];
  readonly remove: () => void;
}

/** Setuid-root programs of every Debian system (util-linux, mount, passwd), for unprivileged runs. */
const setuidRootPrograms = ["/usr/bin/su", "/bin/su", "/usr/bin/mount", "/usr/bin/passwd"];

/** A file of this host that is setuid and owned by root, if there is one. */
export function hostSetuidRoot(): string | undefined {
  return setuidRootPrograms.find((path) => {
    const stats = statSync(path, { throwIfNoEntry: false });
    return stats !== undefined && stats.uid === 0 && (stats.mode & 0o4000) !== 0;
  });
}

/**
 * Copies a fixture to a temporary directory and applies its modes.json (git keeps no setuid bits),
 * returning the --path.* flags that point the exporter at it. Only root can make a file setuid
 * root; anyone else gets a symlink to one of the host's setuid-root programs in its place.
 */
export function materializeFixture(name: string): FixtureTree {
  const source = join(projectRoot, "test/fixtures", name);
  const dir = mkdtempSync(join(tmpdir(), `rootless-exporter-${name}-`));
  cpSync(source, dir, { recursive: true });
  // The fixture's / is open to every user, as a host's is (mkdtemp makes 0700).
  chmodSync(dir, 0o755);
  const modesFile = join(dir, "modes.json");
  if (existsSync(modesFile)) {
    const modes = JSON.parse(readFileSync(modesFile, "utf8")) as Record<string, string>;
    const isRoot = process.getuid?.() === 0;
    const setuidRoot = hostSetuidRoot();
    for (const [path, mode] of Object.entries(modes)) {
      const bits = parseInt(mode, 8);
      if ((bits & 0o4000) !== 0 && !isRoot && setuidRoot !== undefined) {
        rmSync(join(dir, path));
        symlinkSync(setuidRoot, join(dir, path));
      } else chmodSync(join(dir, path), bits);
    }
  }
  return {
    dir,
    flags: [`--path.procfs=${dir}/proc`, `--path.sysfs=${dir}/sys`, `--path.rootfs=${dir}/root`],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
