#!/usr/bin/env node
import { pino } from "pino";
import type { Command } from "./cli.js";
import { runCheck } from "./check.js";
import { helpText, parseCommandLine } from "./cli.js";
import { collectorList, collectors } from "./collectors/registry.js";
import { UsageError } from "./config.js";
import { YoungGenerationCap, tuneHeap } from "./exporter/heap.js";
import { ExporterService } from "./exporter/service.js";
import { ListenError } from "./exporter/http/server.js";
import type { WebConfigSource } from "./exporter/http/web-config-source.js";
import { routeCronLogs } from "./exporter/schedule/cron-log.js";
import { TargetError } from "./host/target.js";
import { packageVersion } from "./version.js";

const shutdownGraceMs = 5000;

async function main(argv: readonly string[]): Promise<number> {
  const version = packageVersion();
  let command: Command;
  try {
    command = parseCommandLine(argv, process.env, collectorList);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`rootless-exporter: ${err.message}\n`);
      // `check` follows the Nagios convention, where 3 is UNKNOWN (a usage error included).
      return argv[0] === "check" ? 3 : 2;
    }
    throw err;
  }
  if (command.kind === "help") {
    process.stdout.write(`${helpText(collectorList)}\n`);
    return 0;
  }
  if (command.kind === "version") {
    process.stdout.write(`rootless-exporter ${version} (node ${process.version})\n`);
    return 0;
  }
  if (command.kind === "check") {
    try {
      return await runCheck({ ...command, collectors, env: process.env, out: process.stdout });
    } catch (err) {
      process.stderr.write(
        `rootless-exporter check: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      return 3;
    }
  }
  const { config } = command;
  // Before the first collection grows the young generation (see heap.ts).
  const heapFlags = tuneHeap();
  // With the heap's sizing left to us, the young generation stays small too (see heap.ts).
  const young = heapFlags.length > 0 ? new YoungGenerationCap() : undefined;
  young?.start();
  const log = pino({ level: config.logLevel, base: { pid: process.pid } });
  log.debug({ flags: heapFlags }, "V8 heap sizing");
  // node-cron's own warnings ("missed execution") go to stdout in colour unless rerouted.
  routeCronLogs(log);
  let webConfig: WebConfigSource | undefined;
  if (config.web.configFile) {
    // Loaded only with a web config: the YAML parser and TLS are ~7 MiB of RSS a daemon without one
    // does not need.
    const [{ WebConfigSource }, { WebConfigError }] = await Promise.all([
      import("./exporter/http/web-config-source.js"),
      import("./exporter/http/web-config.js"),
    ]);
    try {
      webConfig = new WebConfigSource(config.web.configFile, log);
    } catch (err) {
      if (!(err instanceof WebConfigError)) throw err;
      process.stderr.write(`rootless-exporter: --web.config.file: ${err.message}\n`);
      return 2;
    }
  }
  // A stray rejection inside a library (dbus-next throws from a promise chain of its own when a
  // bus refuses Hello) must not take the whole exporter down: log it and go on serving.
  process.on("unhandledRejection", (reason) => {
    log.error(
      { err: reason instanceof Error ? reason.message : String(reason) },
      "unhandled rejection",
    );
  });
  const daemon = new ExporterService({
    config,
    collectors,
    version,
    log,
    env: process.env,
    webConfig,
  });
  try {
    await daemon.start();
  } catch (err) {
    young?.stop();
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof TargetError) {
      process.stderr.write(`rootless-exporter: --target.user: ${message}\n`);
      return 2;
    }
    await daemon.stop();
    // Like a usage error: one plain line for the person starting it, not a JSON log line.
    if (err instanceof ListenError) {
      process.stderr.write(`rootless-exporter: ${message}\n`);
      return 1;
    }
    log.fatal({ err: message }, "cannot start");
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info({ signal }, "shutting down");
      process.off("SIGTERM", onSignal).off("SIGINT", onSignal);
      setTimeout(() => {
        log.error("shutdown took longer than 5s; exiting anyway");
        process.exit(1);
      }, shutdownGraceMs).unref();
      young?.stop();
      void daemon.stop().then(resolve);
    };
    process.on("SIGTERM", onSignal).on("SIGINT", onSignal);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `rootless-exporter: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
