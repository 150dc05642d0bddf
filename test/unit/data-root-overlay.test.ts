import { describe, expect, it } from "vitest";
import { dataRootOverlay } from "../../src/checks/data-root-overlay.js";
import type { DockerFacts } from "../../src/collectors/docker/docker.js";
import { alice, healthyFacts } from "../helpers/healthy-facts.js";

const path = "/home/alice/.local/share/docker";

/** The healthy daemon with its data root on `fsType` (mountinfo's name) and a few changes. */
function verdict(
  fsType: string,
  change: {
    driver?: string;
    zfs?: string;
    dtype?: boolean;
    warnings?: Record<string, number>;
  } = {},
) {
  const facts = healthyFacts();
  const info = facts.docker.info ?? {
    rootless: true,
    containers: { running: 0, paused: 0, stopped: 0 },
  };
  const usage = facts.docker.dataRootUsage as Extract<
    DockerFacts["dataRootUsage"],
    { fsName: string }
  >;
  const docker: DockerFacts = {
    ...facts.docker,
    info: {
      ...info,
      storageDriver: change.driver ?? "overlay2",
      ...(change.warnings && { warnings: { total: 1, byId: change.warnings } }),
    },
    dataRoot: { path, fsType },
    dataRootUsage: {
      // dtype: undefined is a data root whose entry types were not read (dockerd's warning decides).
      ...("dtype" in change && change.dtype === undefined ? { ...usage, dtype: undefined } : usage),
      ...(change.zfs && { zfsVersion: change.zfs }),
      ...(change.dtype !== undefined && { dtype: change.dtype }),
    },
  };
  return dataRootOverlay.evaluate({ facts: { docker, kernel: facts.kernel }, target: alice }).state;
}

describe("data_root_overlay: overlay's upper layer on the data root's filesystem, rootless", () => {
  it.each([
    ["ext4", {}, "pass"],
    ["xfs", {}, "pass"],
    ["btrfs", {}, "pass"],
    ["xfs", { dtype: false }, "fail"],
    ["xfs", { dtype: undefined, warnings: { no_dtype: 1 } }, "fail"],
    ["ecryptfs", {}, "fail"],
    ["nfs4", {}, "fail"],
    ["cifs", {}, "fail"],
    ["overlay", {}, "fail"],
    ["zfs", { zfs: "2.1.11" }, "fail"],
    ["zfs", { zfs: "2.2.0" }, "pass"],
    ["zfs", {}, "unknown"],
    ["fuse.sshfs", {}, "unknown"],
    ["ecryptfs", { driver: "fuse-overlayfs" }, "pass"],
    ["nfs4", { driver: "vfs" }, "pass"],
  ] as const)("%s %j: %s", (fsType, change, state) => {
    expect(verdict(fsType, change)).toBe(state);
  });

  it("a stopped dockerd with no driver set is judged as dockerd will choose", () => {
    const facts = healthyFacts();
    const configured = {
      configFile: "/home/alice/.config/docker/daemon.json",
      configState: "missing" as const,
      dataRoot: path,
      dataRootSource: "default" as const,
      dataRootFs: "ecryptfs",
    };
    const docker: DockerFacts = {
      runtimeDir: facts.docker.runtimeDir,
      socket: facts.docker.socket,
      dockerdUp: false,
      apiUp: false,
      pidFile: "missing",
      configured,
    };
    const input = { facts: { docker, kernel: facts.kernel }, target: alice };
    const free = dataRootOverlay.evaluate(input);
    expect(free.state).toBe("pass");
    expect(free.summary.en).toMatch(/fuse-overlayfs or vfs/);
    const set = dataRootOverlay.evaluate({
      ...input,
      facts: {
        ...input.facts,
        docker: {
          ...docker,
          configured: {
            ...configured,
            storageDriver: "overlay2",
            storageDriverSource: "daemon.json",
          },
        },
      },
    });
    expect(set.state).toBe("fail");
    expect(set.summary.en).toContain(
      "dockerd is not running; from /home/alice/.config/docker/daemon.json",
    );
  });
});
