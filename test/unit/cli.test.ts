import { describe, expect, it } from "vitest";
import { envName, helpText, parseCommandLine } from "../../src/cli.js";
import { collectorList as collectors } from "../../src/collectors/registry.js";
import type { Config } from "../../src/config.js";
import { UsageError } from "../../src/config.js";

function serve(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const command = parseCommandLine(argv, env, collectors);
  if (command.kind !== "serve") throw new Error(`expected serve, got ${command.kind}`);
  return command.config;
}

function usageError(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseCommandLine(argv, env, collectors);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error("expected a usage error");
}

describe("parseCommandLine", () => {
  it("has the documented defaults", () => {
    const config = serve([]);
    expect(config.listen).toEqual({ host: undefined, port: 10049 });
    expect(config.telemetryPath).toBe("/metrics");
    expect(config.timeoutMs).toBe(10_000);
    expect(config.roots).toEqual({ procfs: "/proc", sysfs: "/sys", rootfs: "/" });
    expect(config.logLevel).toBe("info");
    expect(config.rpcTimeoutMs).toBe(2000);
    expect(config.collectors.map((c) => [c.name, c.enabled, c.intervalSeconds])).toEqual([
      ["cgroup", true, 15],
      ["client", true, 15],
      ["dbus", true, 15],
      ["docker", true, 15],
      ["kernel", true, 15],
      ["linger", true, 15],
      ["network", true, 15],
      ["probe", false, 3600],
      ["rootlesskit", true, 15],
      ["subid", true, 15],
    ]);
  });

  it.each([
    [["--web.listen-address=:notaport"], /^--web\.listen-address: expected \[host\]:port/],
    [
      ["--collector.subid.interval=-3s"],
      /^--collector\.subid\.interval: expected a positive duration/,
    ],
    [
      ["--collector.subid.interval=45s"],
      /^--collector\.subid\.interval: expected a duration that divides/,
    ],
    [["--collect.timeout=soon"], /^--collect\.timeout: expected a positive duration/],
    [["--bogus"], /^unknown flag --bogus/],
    [["--collector.nosuch"], /^unknown flag --collector\.nosuch/],
    [["serve"], /^unexpected argument "serve"/],
    [["--log.level=trace"], /^--log\.level: expected one of debug, info, warn, error/],
    [["--web.telemetry-path=metrics"], /^--web\.telemetry-path: expected a path/],
    [
      ["--web.disable-exporter-metrics=maybe"],
      /^--web\.disable-exporter-metrics: expected true or false/,
    ],
    [["--path.procfs"], /^--path\.procfs: expected a value/],
    [["--no-collector.subid=true"], /^--no-collector\.subid takes no value/],
  ])("%j is refused", (argv, message) => expect(usageError(argv)).toMatch(message));

  it("takes collector-declared options and validates them", () => {
    const config = serve(["--collector.dbus.units=docker.service,containerd.service"]);
    expect(config.collectorOptions).toEqual({
      "collector.dbus.units": "docker.service,containerd.service",
    });
    expect(usageError(["--collector.dbus.units=docker;rm"])).toMatch(
      /^--collector\.dbus\.units: expected unit names/,
    );
    expect(usageError(["--collect.rpc-timeout=0s"])).toMatch(
      /^--collect\.rpc-timeout: expected a positive duration/,
    );
  });

  it("names options after their own flag when they declare one (--probe.bytes)", () => {
    const config = serve(["--collector.probe", "--probe.bytes=16MiB", "--probe.timeout=5s"]);
    expect(config.collectorOptions).toMatchObject({
      "probe.bytes": "16MiB",
      "probe.timeout": "5s",
    });
    expect(config.collectors.find((c) => c.name === "probe")?.enabled).toBe(true);
    expect(usageError(["--probe.bytes=lots"])).toMatch(
      /^--probe\.bytes: expected a size such as 64MiB/,
    );
    expect(usageError(["--probe.network-target=host name"])).toMatch(
      /^--probe\.network-target: expected an IP address/,
    );
  });

  it("turns collectors on and off, and disable-defaults keeps only the named ones", () => {
    const off = serve(["--no-collector.subid"]).collectors.find((c) => c.name === "subid");
    expect(off?.enabled).toBe(false);
    const only = serve(["--collector.disable-defaults", "--collector.kernel"]).collectors;
    expect(only.filter((c) => c.enabled).map((c) => c.name)).toEqual(["kernel"]);
  });

  it("sets intervals globally and per collector", () => {
    const config = serve(["--collect.interval=30s", "--collector.kernel.interval", "5m"]);
    const intervals = Object.fromEntries(config.collectors.map((c) => [c.name, c.intervalSeconds]));
    expect(intervals).toMatchObject({ cgroup: 30, kernel: 300, linger: 30, subid: 30, docker: 30 });
  });

  it("takes --target.user and --target.exclude several times, or as a comma list in the environment", () => {
    const config = serve(["--target.user=alice", "--target.user", "1001", "--target.user=alice"]);
    expect(config.targetUsers).toEqual(["alice", "1001"]);
    expect(serve([]).targetUsers).toEqual([]);
    const env = {
      ROOTLESS_EXPORTER_TARGET_EXCLUDE: "ci,build",
      ROOTLESS_EXPORTER_TARGET_USER: "a,b",
    };
    expect(serve([], env)).toMatchObject({
      targetExclude: ["ci", "build"],
      targetUsers: ["a", "b"],
    });
    // The command line replaces the environment's list rather than adding to it.
    expect(serve(["--target.user=c"], env).targetUsers).toEqual(["c"]);
    expect(serve(["--target.min-uid=500"]).targetMinUid).toBe(500);
    expect(serve([]).targetMinUid).toBeUndefined();
  });

  it("refuses a probe timeout whose run would outgrow Node's longest timer", () => {
    expect(usageError(["--probe.timeout=312h"])).toMatch(
      /^--probe\.timeout: expected at most 12 days/,
    );
    expect(serve(["--probe.timeout=264h"]).collectorOptions["probe.timeout"]).toBe("264h");
  });

  it.each([
    [["--target.user=al ice"], /^--target\.user: expected a login name or a uid, got "al ice"/],
    [["--target.exclude=../x"], /^--target\.exclude: expected a login name or a uid/],
    [["--target.min-uid=-1"], /^--target\.min-uid: expected a uid such as 1000, got "-1"/],
    [["--target.min-uid=99999999999"], /^--target\.min-uid: expected a uid/],
  ])("refuses %j", (argv, message) => expect(usageError(argv)).toMatch(message));

  it("reads ROOTLESS_EXPORTER_* variables, and flags win over them", () => {
    const env = {
      ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS: "127.0.0.1:9999",
      ROOTLESS_EXPORTER_LOG_LEVEL: "debug",
      ROOTLESS_EXPORTER_COLLECTOR_SUBID: "false",
    };
    const config = serve(["--log.level=warn"], env);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 9999 });
    expect(config.logLevel).toBe("warn");
    expect(config.collectors.find((c) => c.name === "subid")?.enabled).toBe(false);
    expect(usageError([], { ROOTLESS_EXPORTER_COLLECTOR_SUBID: "nah" })).toMatch(
      /^ROOTLESS_EXPORTER_COLLECTOR_SUBID for --collector\.subid: expected true or false/,
    );
  });

  it("answers --help and --version before anything else", () => {
    expect(parseCommandLine(["--bogus", "--help"], {}, collectors).kind).toBe("help");
    expect(parseCommandLine(["--version"], {}, collectors).kind).toBe("version");
    expect(helpText(collectors)).toContain("--[no-]collector.subid");
    expect(envName("web.listen-address")).toBe("ROOTLESS_EXPORTER_WEB_LISTEN_ADDRESS");
  });
});
