import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readConfiguredDaemon } from "../../src/collectors/docker/docker-config.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";
import { requireOnCi } from "../helpers/prerequisites.js";

const uid = process.getuid?.() ?? 1000;
const target: Target = {
  name: "alice",
  uid,
  gid: uid,
  home: "/home/alice",
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
};

describe("docker-config: what a dockerd that is not running would use", () => {
  let dir = "";
  let roots: HostRoots;
  const home = () => join(roots.rootfs, "home/alice");
  const config = () => join(home(), ".config/docker/daemon.json");

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "docker-config-"));
    roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: join(dir, "root") };
    mkdirSync(join(roots.procfs, "1"), { recursive: true });
    mkdirSync(join(home(), ".config/docker"), { recursive: true });
    writeFileSync(
      join(roots.procfs, "1/mountinfo"),
      "25 1 254:1 / / rw - ext4 /dev/vda1 rw\n40 25 0:50 / /home rw - nfs4 srv:/home rw\n" +
        "41 25 0:51 / /srv/docker rw - xfs /dev/vdb rw\n",
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("defaults: ~/.local/share/docker on the home's filesystem, no driver", async () => {
    expect(await readConfiguredDaemon(roots, target)).toEqual({
      configFile: "/home/alice/.config/docker/daemon.json",
      configState: "missing",
      dataRoot: "/home/alice/.local/share/docker",
      dataRootSource: "default",
      dataRootFs: "nfs4",
    });
  });

  it("daemon.json's data-root and storage-driver", async () => {
    writeFileSync(config(), '{"data-root":"/srv/docker/alice","storage-driver":"fuse-overlayfs"}');
    expect(await readConfiguredDaemon(roots, target)).toMatchObject({
      configState: "ok",
      dataRoot: "/srv/docker/alice",
      dataRootSource: "daemon.json",
      dataRootFs: "xfs",
      storageDriver: "fuse-overlayfs",
      storageDriverSource: "daemon.json",
    });
  });

  it("the one driver directory the data root already holds", async () => {
    mkdirSync(join(home(), ".local/share/docker/overlay2"), { recursive: true });
    expect(await readConfiguredDaemon(roots, target)).toMatchObject({
      storageDriver: "overlay2",
      storageDriverSource: "data root",
    });
  });

  it.each([
    ["not JSON", () => writeFileSync(config(), "{data-root: /x"), "malformed"],
    ["an array", () => writeFileSync(config(), "[]"), "malformed"],
    ["a symlink", () => symlinkSync("/etc/passwd", config()), "unsafe"],
    ["a directory", () => mkdirSync(config()), "unsafe"],
    ["a FIFO (never opened for a blocking read)", () => spawnSync("mkfifo", [config()]), "unsafe"],
    ["too large", () => writeFileSync(config(), " ".repeat(300 * 1024)), "too_large"],
  ])("daemon.json that is %s is not used, nor echoed", async (_name, make, state) => {
    make();
    const configured = await readConfiguredDaemon(roots, target);
    expect(configured).toEqual({
      configFile: "/home/alice/.config/docker/daemon.json",
      configState: state,
    });
  });

  it.skipIf(requireOnCi(uid === 0 ? undefined : "needs root"))(
    "daemon.json of another owner is not used (needs root to chown)",
    async () => {
      writeFileSync(config(), '{"data-root":"/srv"}');
      spawnSync("chown", ["4321", config()]);
      expect((await readConfiguredDaemon(roots, target)).configState).toBe("unsafe");
    },
  );
});
