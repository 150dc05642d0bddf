import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseEnvironmentLines } from "../../src/collectors/docker-unit.js";
import {
  readConfiguredNetwork,
  scriptDefault,
} from "../../src/collectors/network/network-config.js";
import { MountTable } from "../../src/host/mount-table.js";
import type { HostRoots } from "../../src/host/paths.js";
import type { Target } from "../../src/host/target.js";

const uid = process.getuid?.() ?? 1000;
const target: Target = {
  name: "alice",
  uid,
  gid: uid,
  home: "/home/alice",
  groups: [uid],
  runtimeDir: `/run/user/${uid}`,
};
const unit = "/home/alice/.config/systemd/user/docker.service";

describe("network-config: the network dockerd-rootless.sh would start", () => {
  it.each([
    ['Environment="A=1"', [["A", "1"]]],
    [
      'Environment="A=1" "B=two words" C=3',
      [
        ["A", "1"],
        ["B", "two words"],
        ["C", "3"],
      ],
    ],
    ["  Environment = PATH=/usr/bin:/bin", [["PATH", "/usr/bin:/bin"]]],
    ["# Environment=A=1\nExecStart=/x A=1\nEnvironment=", []],
    [
      "Environment=A=1 \\\n  DOCKER_HOST=tcp://x:2375\nExecStart=/x",
      [
        ["A", "1"],
        ["DOCKER_HOST", "tcp://x:2375"],
      ],
    ],
  ])("parseEnvironmentLines(%j)", (text, pairs) => {
    expect(parseEnvironmentLines(text)).toEqual(pairs);
  });

  let dir = "";
  let roots: HostRoots;
  const write = (path: string, text: string) => {
    mkdirSync(join(roots.rootfs, path, ".."), { recursive: true });
    writeFileSync(join(roots.rootfs, path), text);
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "network-config-"));
    roots = { procfs: join(dir, "proc"), sysfs: join(dir, "sys"), rootfs: join(dir, "root") };
    mkdirSync(roots.rootfs);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("no docker.service: no rootless Docker to judge", async () => {
    write("/usr/bin/slirp4netns", "");
    expect(await readConfiguredNetwork(roots, new MountTable(), target)).toBeUndefined();
  });

  it.each([
    [
      "slirp4netns installed",
      ["/usr/bin/slirp4netns"],
      "",
      { driver: "slirp4netns", mtu: 65520, portDriver: "builtin" },
    ],
    [
      "only vpnkit",
      ["/usr/bin/vpnkit"],
      "",
      { driver: "vpnkit", mtu: 1500, portDriver: "builtin" },
    ],
    ["neither", [], "", { mtu: 1500, portDriver: "builtin" }],
  ])("defaults with %s", async (_name, binaries, _env, expected) => {
    for (const binary of binaries) write(binary, "");
    write(unit, "[Service]\nExecStart=/home/alice/bin/dockerd-rootless.sh\n");
    expect(await readConfiguredNetwork(roots, new MountTable(), target)).toEqual({
      unitFile: unit,
      ...expected,
      sources: { driver: scriptDefault, mtu: scriptDefault, portDriver: scriptDefault },
    });
  });

  it("the guide's override.conf wins over the unit, in drop-in order", async () => {
    write("/usr/bin/slirp4netns", "");
    write(unit, '[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=1500"\n');
    write(
      `${unit}.d/override.conf`,
      '[Service]\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_NET=pasta"\nEnvironment="DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=implicit"\n',
    );
    expect(await readConfiguredNetwork(roots, new MountTable(), target)).toEqual({
      unitFile: unit,
      driver: "pasta",
      mtu: 1500,
      portDriver: "implicit",
      sources: {
        driver: `${unit}.d/override.conf`,
        mtu: unit,
        portDriver: `${unit}.d/override.conf`,
      },
    });
  });
});
