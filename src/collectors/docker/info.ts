import type { DockerWarnings } from "./warnings.js";
import { parseWarnings } from "./warnings.js";

/* GET /info of the Docker Engine API, validated from `unknown`. */

export interface DockerInfo {
  readonly version?: string;
  readonly storageDriver?: string;
  readonly cgroupDriver?: string;
  readonly cgroupVersion?: string;
  readonly rootless: boolean;
  readonly containers: {
    readonly running: number;
    readonly paused: number;
    readonly stopped: number;
  };
  readonly dockerRootDir?: string;
  /** `Warnings`, mapped to closed ids; absent when /info has no such list (unknown, not none). */
  readonly warnings?: DockerWarnings;
}

const str = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;
const count = (value: unknown): number => (typeof value === "number" && value >= 0 ? value : 0);

/** GET /info of the Docker Engine API; undefined unless it is an object. */
export function parseDockerInfo(body: unknown): DockerInfo | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const info = body as Record<string, unknown>;
  const security = Array.isArray(info["SecurityOptions"]) ? info["SecurityOptions"] : [];
  const fields = {
    version: str(info["ServerVersion"]),
    storageDriver: str(info["Driver"]),
    cgroupDriver: str(info["CgroupDriver"]),
    cgroupVersion: str(info["CgroupVersion"]),
    dockerRootDir: str(info["DockerRootDir"]),
  };
  const warnings = parseWarnings(info["Warnings"]);
  return {
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    ...(warnings && { warnings }),
    rootless: security.some((option) => option === "name=rootless"),
    containers: {
      running: count(info["ContainersRunning"]),
      paused: count(info["ContainersPaused"]),
      stopped: count(info["ContainersStopped"]),
    },
  };
}
