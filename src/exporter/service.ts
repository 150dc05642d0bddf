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
import { BodyFeed } from "./http/body-feed.js";
import { ServingThread } from "./http/serving-thread.js";
import { checksJsonText, findingsJson } from "./render/findings.js";
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
  /**
   * Where the HTTP server runs, when not as --web.serving-worker says: on the main thread, or on a
   * worker thread of its own (a scrape never waits for a cycle's turn on the main thread, for more
   * RSS: docs/performance.md#serving-from-a-worker-thread-host-mode).
   */
  readonly serveFrom?: "main" | "worker";
  /** The worker's module (tests that run the sources point it at the built one). */
  readonly workerEntry?: URL;
}

/** How long the body is watched for a new rendering after a change and after a scrape. */
const watchAfterChangeMs = 30_000;
const watchAfterScrapeMs = 2_000;

/** The serving exporter: scheduler, renderer and HTTP server, started and stopped together. */
export class ExporterService {
  private watch: Watch | undefined;
  private server: ExporterServer | ServingThread | undefined;
  private renderer: MetricsRenderer | undefined;
  private feed: BodyFeed | undefined;

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
      onChange: () => {
        renderer.invalidate();
        this.feed?.watch(watchAfterChangeMs);
      },
    });
    const renderer = new MetricsRenderer({
      samples: () => watch.snapshotSteps(build),
      exporterMetrics: !config.disableExporterMetrics,
      // Every body is taken through serve() below, or copied at once (BodyFeed, the worker).
      release: true,
    });
    const pages = {
      landing: () =>
        landingPage({
          version: this.options.version,
          telemetryPath: config.telemetryPath,
          mode: watch.mode,
          states: watch.scheduler.collectorStates(),
          users: watch.findings(),
          hostFindings: watch.hostFindings() ?? [],
        }),
      // Facts quote what users wrote: bidi and line-separator characters go out as \uXXXX.
      checks: (lang: string) =>
        checksJsonText(
          findingsJson(watch.findings(), lang as Lang, new Date(), watch.hostFindings()),
        ),
    };
    const limits = {
      maxConnections: config.web.maxConnections,
      maxRequests: config.web.maxRequests,
    };
    const serveFrom = this.options.serveFrom ?? (config.web.servingWorker ? "worker" : "main");
    let server: ExporterServer | ServingThread;
    if (serveFrom === "worker") {
      const thread = new ServingThread(
        { ...pages, scraped: () => this.feed?.watch(watchAfterScrapeMs) },
        log,
        {
          ...limits,
          listen: config.listen,
          telemetryPath: config.telemetryPath,
          contentType: renderer.contentType,
          webConfigFile: config.web.configFile,
          logLevel: config.logLevel,
        },
        this.options.workerEntry,
      );
      server = thread;
      this.feed = new BodyFeed(
        () => renderer.body(),
        (parts) => thread.publish(renderer.contentType, parts),
      );
    } else {
      server = new ExporterServer(
        {
          telemetryPath: config.telemetryPath,
          metrics: () => ({ contentType: renderer.contentType, ...renderer.serve() }),
          ...pages,
        },
        log,
        { ...limits, webConfig: this.options.webConfig },
      );
    }
    this.server = server;
    const address = await (server instanceof ServingThread
      ? server.start()
      : server.start(config.listen));
    this.watch = watch;
    this.renderer = renderer;
    watch.scheduler.start();
    const enabled = config.collectors.filter((c) => c.enabled).map((c) => c.name);
    log.info(
      {
        address: address.address,
        port: address.port,
        mode: watch.mode,
        serveFrom,
        collectors: enabled,
      },
      "listening",
    );
    return { address, mode: watch.mode };
  }

  async stop(): Promise<void> {
    this.renderer?.stop();
    this.renderer = undefined;
    this.feed?.stop();
    this.feed = undefined;
    await this.watch?.stop();
    await this.server?.stop();
    this.watch = undefined;
    this.server = undefined;
  }
}
