import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Lang } from "../checks/finding.js";
import type { CollectorSet } from "./schedule/scheduler.js";
import type { FactsByCollector } from "../collectors/registry.js";
import type { Config } from "../config.js";
import { landingPage } from "./http/landing.js";
import { MetricsRenderer } from "./render/renderer.js";
import type { TriggerFactory } from "./schedule/trigger.js";
import { ExporterServer } from "./http/server.js";
import { findingsJson } from "./render/findings.js";
import { Watch } from "./schedule/watch.js";
import type { WebConfigSource } from "./http/web-config-source.js";

export interface ExporterServiceOptions {
  readonly config: Config;
  readonly collectors: CollectorSet<FactsByCollector>;
  readonly version: string;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly trigger?: TriggerFactory;
  /** --web.config.file, loaded and checked by main before the daemon starts. */
  readonly webConfig?: WebConfigSource;
}

/** The serving exporter: scheduler, renderer and HTTP server, started and stopped together. */
export class ExporterService {
  private watch: Watch | undefined;
  private server: ExporterServer | undefined;
  private renderer: MetricsRenderer | undefined;

  constructor(private readonly options: ExporterServiceOptions) {}

  async start(): Promise<{ address: AddressInfo; mode: string }> {
    const { config, log } = this.options;
    const build = { version: this.options.version, nodejsVersion: process.version };
    const watch = await Watch.create({
      config,
      collectors: this.options.collectors,
      env: this.options.env,
      log,
      trigger: this.options.trigger,
      onChange: () => renderer.invalidate(),
    });
    const renderer = new MetricsRenderer({
      samples: () => watch.snapshotSteps(build),
      exporterMetrics: !config.disableExporterMetrics,
    });
    const server = new ExporterServer(
      {
        telemetryPath: config.telemetryPath,
        metrics: () => ({ contentType: renderer.contentType, body: renderer.body() }),
        landing: () =>
          landingPage({
            version: this.options.version,
            telemetryPath: config.telemetryPath,
            mode: watch.mode,
            states: watch.scheduler.collectorStates(),
            users: watch.findings(),
            hostFindings: watch.hostFindings() ?? [],
          }),
        checks: (lang) =>
          findingsJson(watch.findings(), lang as Lang, new Date(), watch.hostFindings()),
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
    this.watch = watch;
    this.renderer = renderer;
    watch.scheduler.start();
    const enabled = config.collectors.filter((c) => c.enabled).map((c) => c.name);
    log.info(
      { address: address.address, port: address.port, mode: watch.mode, collectors: enabled },
      "listening",
    );
    return { address, mode: watch.mode };
  }

  async stop(): Promise<void> {
    this.renderer?.stop();
    this.renderer = undefined;
    await this.watch?.stop();
    await this.server?.stop();
    this.watch = undefined;
    this.server = undefined;
  }
}
