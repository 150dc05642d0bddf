import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Collector } from "../collectors/collector.js";
import type { Config } from "../config.js";
import type { Target } from "../host/target.js";
import { loadTarget } from "../host/target.js";
import type { Lang } from "../checks/finding.js";
import { findingsFrom, findingsJson } from "./findings.js";
import { landingPage } from "./landing.js";
import { MetricsRenderer } from "./metrics.js";
import type { TriggerFactory } from "./scheduler.js";
import type { Scheduler } from "./scheduler.js";
import { schedulerFor } from "./scheduler.js";
import { ExporterServer } from "./server.js";
import type { WebConfigSource } from "./web-config-source.js";

export interface DaemonOptions {
  readonly config: Config;
  readonly collectors: readonly Collector<unknown>[];
  readonly version: string;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly trigger?: TriggerFactory;
  /** --web.config.file, loaded and checked by main before the daemon starts. */
  readonly webConfig?: WebConfigSource;
}

/** The serving exporter: scheduler, renderer and HTTP server, started and stopped together. */
export class Daemon {
  private scheduler: Scheduler | undefined;
  private server: ExporterServer | undefined;

  constructor(private readonly options: DaemonOptions) {}

  async start(): Promise<{ address: AddressInfo; target: Target }> {
    const { config, log } = this.options;
    const target = await loadTarget(config.roots, config.targetUser, this.options.env);
    const renderer = new MetricsRenderer({
      states: () => scheduler.states(),
      target,
      build: { version: this.options.version, nodejsVersion: process.version },
      exporterMetrics: !config.disableExporterMetrics,
    });
    const scheduler = schedulerFor(config, {
      collectors: this.options.collectors,
      target,
      env: this.options.env,
      log,
      trigger: this.options.trigger,
      onChange: () => renderer.invalidate(),
    });
    const server = new ExporterServer(
      {
        telemetryPath: config.telemetryPath,
        metrics: () => ({ contentType: renderer.contentType, body: renderer.render() }),
        landing: () =>
          landingPage({
            version: this.options.version,
            telemetryPath: config.telemetryPath,
            user: target.name,
            states: scheduler.states(),
            findings: findingsFrom(scheduler.states(), target),
          }),
        checks: (lang) =>
          findingsJson(
            findingsFrom(scheduler.states(), target),
            lang as Lang,
            target.name,
            new Date(),
          ),
      },
      log,
      {
        maxConnections: config.web.maxConnections,
        maxRequests: config.web.maxRequests,
        webConfig: this.options.webConfig,
      },
    );
    const address = await server.start(config.listen);
    this.server = server;
    this.scheduler = scheduler;
    scheduler.start();
    const enabled = config.collectors.filter((c) => c.enabled).map((c) => c.name);
    log.info(
      {
        address: address.address,
        port: address.port,
        user: target.name,
        uid: target.uid,
        collectors: enabled,
      },
      "listening",
    );
    return { address, target };
  }

  async stop(): Promise<void> {
    await this.scheduler?.stop();
    await this.server?.stop();
    this.scheduler = undefined;
    this.server = undefined;
  }
}
