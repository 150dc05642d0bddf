import { dirname } from "node:path";
import type { HttpLog } from "./http-log.js";
import { configFileIdentity as identity, readConfigText } from "../../host/config-files.js";
import type { WebConfig } from "./web-config.js";
import { WebConfigError, parseWebConfig } from "./web-config.js";
import type { TlsServerSettings } from "./web-tls.js";
import { loadTls, tlsFiles } from "./web-tls.js";

/** Reads and checks the whole file, TLS material included; throws WebConfigError. */
export function loadWebConfig(path: string): {
  config: WebConfig;
  tls: TlsServerSettings | undefined;
} {
  let text: string;
  try {
    text = readConfigText(path);
  } catch (err) {
    throw new WebConfigError(
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  const config = parseWebConfig(text, dirname(path));
  return { config, tls: config.tls ? loadTls(config.tls) : undefined };
}

/**
 * The web configuration as it is now: the file is stat'ed on each use and parsed again only when
 * it (or a certificate it names) changed, so passwords and certificates rotate without a restart.
 * A change that does not parse is logged and the last good configuration stays in force: a typo
 * must not turn authentication off.
 */
export class WebConfigSource {
  private config: WebConfig;
  private tls: TlsServerSettings | undefined;
  private fileId: string;
  private tlsIds: string;
  private rejectedId: string | undefined;

  constructor(
    private readonly path: string,
    private readonly log: HttpLog,
  ) {
    const loaded = loadWebConfig(path);
    this.config = loaded.config;
    this.tls = loaded.tls;
    this.fileId = identity(path);
    this.tlsIds = this.tlsIdentity();
  }

  /** For each request: users, headers, rate limit. */
  current(): WebConfig {
    this.refresh(false);
    return this.config;
  }

  /** For each new connection: the TLS context, also re-read when a certificate file changed. */
  currentTls(): TlsServerSettings | undefined {
    this.refresh(true);
    return this.tls;
  }

  private tlsIdentity(): string {
    return this.config.tls
      ? tlsFiles(this.config.tls)
          .map((file) => identity(file))
          .join("|")
      : "";
  }

  private refresh(withTls: boolean): void {
    const fileId = identity(this.path);
    const tlsIds = withTls ? this.tlsIdentity() : this.tlsIds;
    if (fileId === this.fileId && tlsIds === this.tlsIds) return;
    const id = `${fileId}/${tlsIds}`;
    if (id === this.rejectedId) return;
    try {
      const loaded = loadWebConfig(this.path);
      if (Boolean(loaded.tls) !== Boolean(this.tls))
        throw new WebConfigError("turning TLS on or off needs a restart");
      this.config = loaded.config;
      this.tls = loaded.tls;
      this.fileId = fileId;
      this.tlsIds = this.tlsIdentity();
      this.rejectedId = undefined;
      this.log.info({ file: this.path }, "web configuration reloaded");
    } catch (err) {
      this.rejectedId = id;
      this.log.error(
        { file: this.path, err: err instanceof Error ? err.message : String(err) },
        "web configuration not reloaded; the previous one stays in force",
      );
    }
  }
}
