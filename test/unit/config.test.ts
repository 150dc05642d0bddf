import { describe, expect, it } from "vitest";
import {
  cronForInterval,
  parseBytes,
  parseDuration,
  parseListenAddress,
} from "../../src/config.js";
import { slirpGateway } from "../../src/collectors/probe/probe.js";

describe("parseDuration", () => {
  it.each([
    ["15s", 15_000],
    ["1m", 60_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["-3s", undefined],
    ["0s", undefined],
    ["", undefined],
    ["15", undefined],
    ["1d", undefined],
    ["s", undefined],
    ["1.5s", undefined],
  ])("%j -> %j", (text, ms) => expect(parseDuration(text)).toBe(ms));
});

describe("parseListenAddress", () => {
  it.each([
    [":10049", { host: undefined, port: 10049 }],
    ["127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["localhost:80", { host: "localhost", port: 80 }],
    [":notaport", undefined],
    [":65536", undefined],
    ["10049", undefined],
    ["::1:9000", undefined],
  ])("%j -> %j", (text, expected) => expect(parseListenAddress(text)).toEqual(expected));
});

describe("cronForInterval", () => {
  it.each([
    [1, "*/1 * * * * *"],
    [15, "*/15 * * * * *"],
    [30, "*/30 * * * * *"],
    [60, "0 */1 * * * *"],
    [300, "0 */5 * * * *"],
    [3600, "0 0 */1 * * *"],
    [21600, "0 0 */6 * * *"],
    [86400, "0 0 0 * * *"],
    [7, undefined],
    [45, undefined],
    [90, undefined],
    [420, undefined],
    [5400, undefined],
    [0, undefined],
    [0.5, undefined],
    [172800, undefined],
  ])("%d s -> %j", (seconds, expected) => expect(cronForInterval(seconds)).toBe(expected));
});

describe("parseBytes", () => {
  it.each([
    ["64MiB", 67108864],
    ["512KiB", 524288],
    ["1GiB", 1073741824],
    ["10MB", 10000000],
    ["1000", 1000],
    ["0", undefined],
    ["-1MiB", undefined],
    ["64 MiB", undefined],
    ["1.5GiB", undefined],
    ["64mib", undefined],
  ])("%j -> %j", (text, bytes) => expect(parseBytes(text)).toBe(bytes));
});

describe("slirpGateway", () => {
  it.each([
    [undefined, "10.0.2.2"],
    ["10.0.2.0/24", "10.0.2.2"],
    ["192.168.100.0/24", "192.168.100.2"],
    ["not-a-cidr", undefined],
  ])("--cidr %j -> %j", (cidr, gateway) => expect(slirpGateway(cidr)).toBe(gateway));
});
