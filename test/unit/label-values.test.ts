import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  closedLabel,
  devicesShown,
  maxDevicesPerUser,
  networkDriverValues,
  pathLabel,
  protoLabel,
  wordLabel,
} from "../../src/collectors/label-values.js";

describe("label values from users", () => {
  it.each([
    ["tcp", "tcp"],
    ["tcp4", "tcp"],
    ["tcp6", "tcp"],
    ["udp6", "udp"],
    ["sctp", "sctp"],
    ["sctp4", "sctp"],
    ["icmp", "other"],
    ["TCP", "other"],
    ["tcp46", "other"],
    ["", "other"],
    ["proto-9499", "other"],
    ['tcp"}\n', "other"],
  ])("protoLabel(%j) = %s", (proto, label) => {
    expect(protoLabel(proto)).toBe(label);
  });

  it.each([
    ["slirp4netns", "slirp4netns"],
    ["pasta", "pasta"],
    ["host", "host"],
    ["", ""],
    ["slirp4netns\nPASS", "other"],
    ["made-up", "other"],
  ])("closedLabel(%j, network drivers) = %s", (value, label) => {
    expect(closedLabel(value, networkDriverValues)).toBe(label);
  });

  it.each([
    ["27.3.1", "27.3.1"],
    ["v2.0.2", "v2.0.2"],
    ["20.10.24+dfsg1", "20.10.24+dfsg1"],
    ["28.0.0-rc.1", "28.0.0-rc.1"],
    ["fuse-overlayfs", "fuse-overlayfs"],
    ["fuse.sshfs", "fuse.sshfs"],
    ["", ""],
    ["overlay2\nPASS", "invalid"],
    ["x\u202e", "invalid"],
    ["two words", "invalid"],
    ["-leading", "invalid"],
    ["v".repeat(65), "invalid"],
  ])("wordLabel(%j) = %s", (value, label) => {
    expect(wordLabel(value)).toBe(label);
  });

  it.each([
    ["/run/user/1000/dockerd-rootless", "/run/user/1000/dockerd-rootless"],
    ["/home/a.b/.local/share/docker", "/home/a.b/.local/share/docker"],
    ["", ""],
    ["relative/dir", "invalid"],
    ["/tmp/a b", "invalid"],
    ["/tmp/a\u2028b", "invalid"],
    [`/${"d".repeat(256)}`, "invalid"],
  ])("pathLabel(%j) = %s", (value, label) => {
    expect(pathLabel(value)).toBe(label);
  });

  it("any string gives a label of at most 257 plain characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (value) => {
        for (const label of [wordLabel(value), pathLabel(value), protoLabel(value)])
          expect(label).toMatch(/^[A-Za-z0-9._+@%,:=~/-]{0,257}$/);
      }),
    );
  });

  it.each([
    [
      ["lo", "tap0"],
      ["lo", "tap0"],
    ],
    [
      ["veth0", ...Array.from({ length: 40 }, (_, i) => `d${String(i).padStart(2, "0")}`)],
      Array.from({ length: maxDevicesPerUser - 1 }, (_, i) => `d${String(i).padStart(2, "0")}`),
    ],
  ])("devicesShown(%j)", (devices, shown) => {
    expect([...devicesShown(devices)].sort()).toEqual([...shown].sort());
  });
});
