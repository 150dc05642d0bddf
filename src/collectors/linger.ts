import { listDir, statPath } from "../host/files.js";
import { rootPath } from "../host/paths.js";
import type { Collector } from "./collector.js";

export interface LingerFacts {
  /** Absent when no source could tell. */
  readonly enabled?: boolean;
  readonly source: "file" | "none";
}

/** logind keeps one empty file per lingering user in /var/lib/systemd/linger (loginctl(1)). */
export const lingerDir = "/var/lib/systemd/linger";

export const lingerCollector: Collector<LingerFacts> = {
  name: "linger",
  description: "systemd-logind linger: without it the user's daemon dies at logout",
  defaultEnabled: true,
  defaultIntervalSeconds: 15,
  async collect({ roots, target, note }) {
    const file = await statPath(rootPath(roots, `${lingerDir}/${target.name}`));
    if (file.ok) return { enabled: true, source: "file" };
    if (file.reason !== "missing") {
      note(`${lingerDir}/${target.name}: ${file.detail}; linger is unknown`);
      return { source: "none" };
    }
    // The file is missing: linger is off, provided the directory itself could be read.
    const dir = await listDir(rootPath(roots, lingerDir));
    if (!dir.ok && dir.reason !== "missing") {
      note(`${lingerDir}: ${dir.detail}; linger is unknown`);
      return { source: "none" };
    }
    return { enabled: false, source: "file" };
  },
};
