import { request } from "node:http";

export type UnixHttpResult =
  | { readonly ok: true; readonly status: number; readonly body: string }
  | {
      readonly ok: false;
      readonly reason: "missing" | "refused" | "timeout" | "too_large" | "error";
      readonly detail: string;
    };

export interface UnixHttpOptions {
  readonly method?: string;
  readonly timeoutMs: number;
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
  readonly body?: string;
}

/**
 * One HTTP request over a unix socket (docker.sock, rootlesskit's api.sock), bounded in time as a
 * whole (connect, headers and body) and in response size. Never throws.
 */
export function unixHttp(
  socketPath: string,
  path: string,
  options: UnixHttpOptions,
): Promise<UnixHttpResult> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: UnixHttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, reason: "timeout", detail: "aborted" });
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          reason: "timeout",
          detail: `${socketPath} did not answer ${path} within ${options.timeoutMs} ms`,
        }),
      options.timeoutMs,
    );
    const req = request(
      {
        socketPath,
        path,
        method: options.method ?? "GET",
        headers: {
          host: "localhost",
          ...(options.body !== undefined && { "content-type": "application/json" }),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            finish({
              ok: false,
              reason: "too_large",
              detail: `${path} answered more than ${maxBytes} bytes`,
            });
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () =>
          finish({
            ok: true,
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", (err) => finish({ ok: false, reason: "error", detail: err.message }));
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => {
      const reason =
        err.code === "ENOENT" ? "missing" : err.code === "ECONNREFUSED" ? "refused" : "error";
      finish({ ok: false, reason, detail: `${socketPath}: ${err.message}` });
    });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);
    req.end(options.body);
  });
}

/** Parses a JSON body into `unknown`; the caller validates its shape. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}
