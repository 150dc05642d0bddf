import { describe, expect, it } from "vitest";
import { parseCommandLine } from "../../src/cli.js";
import { collectorList as collectors } from "../../src/collectors/registry.js";
import { UsageError } from "../../src/config.js";

function parse(argv: string[]): string {
  try {
    const command = parseCommandLine(argv, {}, collectors);
    return command.kind === "serve" ? JSON.stringify(command.config.web) : command.kind;
  } catch (err) {
    if (err instanceof UsageError) return `usage: ${err.message}`;
    throw err;
  }
}

describe("parseCommandLine: web and timer flags", () => {
  it.each([
    // Node's longest timer is 2^31-1 ms; 2147484s would silently fire after 1 ms.
    ["--collect.timeout=2147483s", /^\{/],
    ["--collect.timeout=2147484s", /^usage: --collect.timeout: at most 2147483s/],
    ["--collect.timeout=1000h", /^usage: --collect.timeout: at most/],
    ["--collect.rpc-timeout=2147484s", /^usage: --collect.rpc-timeout: at most 2147483s/],
    ["--collect.rpc-timeout=596524h", /^usage: --collect.rpc-timeout: at most/],
    [
      "--web.telemetry-path=/checks",
      /^usage: --web.telemetry-path: .*other than \/, \/checks, \/healthz/,
    ],
    ["--web.telemetry-path=/healthz", /^usage: --web.telemetry-path/],
    ["--web.telemetry-path=/", /^usage: --web.telemetry-path/],
    ["--web.telemetry-path=/checks/x", /^\{/],
    [
      "--web.max-connections=0",
      /^usage: --web.max-connections: expected a whole number of at least 1/,
    ],
    ["--web.max-connections=64", /"maxConnections":64/],
    ["--web.max-requests=-1", /^usage: --web.max-requests/],
    ["--web.max-requests=0", /"maxRequests":9007199254740991/],
    ["--web.config.file=/etc/web.yml", /"configFile":"\/etc\/web.yml"/],
    ["--web.serving-worker", /"servingWorker":true/],
  ])("%s", (arg, expected) => {
    expect(parse([arg])).toMatch(expected);
  });

  it("defaults: no web config, 512 connections, 40 requests in flight, served on the main thread", () => {
    expect(JSON.parse(parse([]))).toEqual({
      maxConnections: 512,
      maxRequests: 40,
      servingWorker: false,
    });
  });
});
