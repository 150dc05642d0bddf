import { connect } from "node:net";
import { parseBoundedJson } from "./bounded-json.js";

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
  /** Bound on the response body; the header has its own (maxHeaderBytes). */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
  /** A JSON request body. */
  readonly body?: string;
}

export const maxHeaderBytes = 64 * 1024;

/** Where the reading of a response stands (parseResponse). */
export type ResponseState =
  | {
      readonly state: "incomplete";
      /** Once the header is in: its length, and the whole response's when it has a length. */
      readonly header?: { readonly bytes: number; readonly total?: number };
    }
  | { readonly state: "done"; readonly status: number; readonly body: Buffer }
  | { readonly state: "too_large" | "error"; readonly detail: string };

const headerEnd = Buffer.from("\r\n\r\n", "latin1");

/**
 * Reads an HTTP/1.0 response from the bytes received so far; `ended` when the server closed
 * the connection. The body ends at Content-Length, else at the close (HTTP/1.0 has no chunked
 * coding, and a server must not use it for a 1.0 request: one that does is an error here).
 */
export function parseResponse(data: Buffer, ended: boolean, maxBytes: number): ResponseState {
  const end = data.indexOf(headerEnd);
  if (end === -1) {
    if (data.length > maxHeaderBytes)
      return { state: "too_large", detail: `header longer than ${maxHeaderBytes} bytes` };
    return ended
      ? { state: "error", detail: `connection closed after ${data.length} bytes, before a header` }
      : { state: "incomplete" };
  }
  if (end > maxHeaderBytes)
    return { state: "too_large", detail: `header longer than ${maxHeaderBytes} bytes` };
  const [statusLine = "", ...lines] = data.toString("latin1", 0, end).split("\r\n");
  const status = /^HTTP\/1\.[01] ([1-5]\d\d)(?: |$)/.exec(statusLine);
  if (!status)
    return { state: "error", detail: `not an HTTP/1.x status line: ${quote(statusLine)}` };
  let length: number | undefined;
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return { state: "error", detail: `malformed header line: ${quote(line)}` };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "transfer-encoding" && value.toLowerCase() !== "identity")
      return { state: "error", detail: `transfer-encoding ${quote(value)} in an HTTP/1.0 answer` };
    if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value)))
        return { state: "error", detail: `bad content-length ${quote(value)}` };
      length = Number(value);
    }
  }
  if (length !== undefined && length > maxBytes)
    return { state: "too_large", detail: `body of ${length} bytes, more than ${maxBytes}` };
  const received = data.length - end - headerEnd.length;
  if (length === undefined && received > maxBytes)
    return { state: "too_large", detail: `body longer than ${maxBytes} bytes` };
  const bodyStart = end + headerEnd.length;
  if (length !== undefined && received >= length)
    return {
      state: "done",
      status: Number(status[1]),
      body: data.subarray(bodyStart, bodyStart + length),
    };
  if (!ended)
    return {
      state: "incomplete",
      header: { bytes: bodyStart, ...(length !== undefined && { total: bodyStart + length }) },
    };
  if (length !== undefined)
    return { state: "error", detail: `connection closed after ${received} of ${length} bytes` };
  return { state: "done", status: Number(status[1]), body: data.subarray(bodyStart) };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}

/**
 * One HTTP/1.0 request over a unix socket (docker.sock, rootlesskit's api.sock), bounded in time
 * as a whole (connect, header and body) and in response size. Never throws.
 *
 * Both servers are Go's net/http. Node's HTTP client cost 0.4 ms of CPU more per request than
 * this exchange (bench: four requests a cycle), so the request is written by hand: a fixed
 * method and path from the caller's code, never from data, and a strict reading of the answer.
 * One connection per request: a kept connection stays bound to the process that accepted it
 * after the socket path is replaced (a restarted rootlesskit, the e2e fault), and saved
 * little. The connection is not half-closed after the request: Go cancels a request whose
 * client has closed its side.
 */
export function unixHttp(
  socketPath: string,
  path: string,
  options: UnixHttpOptions,
): Promise<UnixHttpResult> {
  const method = options.method ?? "GET";
  if (!/^[A-Z]{1,16}$/.test(method) || !/^\/[\x21-\x7e]*$/.test(path)) {
    const detail = `refusing to send ${quote(method)} ${quote(path)}`;
    return Promise.resolve({ ok: false, reason: "error", detail });
  }
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const body = options.body === undefined ? undefined : Buffer.from(options.body, "utf8");
  const head =
    `${method} ${path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: rootless-exporter\r\n` +
    (body ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : "") +
    "\r\n";
  return new Promise((resolve) => {
    let settled = false;
    let received: Buffer[] = [];
    let size = 0;
    // Known once the header is in: parse again only when the answer can be complete or too big.
    let header: { readonly bytes: number; readonly total?: number } | undefined;
    const socket = connect(socketPath);
    const finish = (result: UnixHttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(result);
    };
    const read = (ended: boolean): void => {
      const data = received.length === 1 ? (received[0] as Buffer) : Buffer.concat(received, size);
      received = [data];
      const answer = parseResponse(data, ended, maxBytes);
      if (answer.state === "incomplete") {
        header = answer.header;
        return;
      }
      if (answer.state === "done")
        finish({ ok: true, status: answer.status, body: answer.body.toString("utf8") });
      else
        finish({
          ok: false,
          reason: answer.state,
          detail: `${socketPath} ${path}: ${answer.detail}`,
        });
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
    socket.on("connect", () => {
      socket.write(body ? Buffer.concat([Buffer.from(head, "latin1"), body]) : head, "latin1");
    });
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      size += chunk.length;
      const waiting =
        header !== undefined &&
        (header.total !== undefined ? size < header.total : size - header.bytes <= maxBytes);
      if (!waiting) read(false);
    });
    socket.on("end", () => read(true));
    socket.on("close", () =>
      finish({ ok: false, reason: "error", detail: `${socketPath}: connection closed` }),
    );
    socket.on("error", (err: NodeJS.ErrnoException) => {
      const reason =
        err.code === "ENOENT" ? "missing" : err.code === "ECONNREFUSED" ? "refused" : "error";
      finish({ ok: false, reason, detail: `${socketPath}: ${err.message}` });
    });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);
  });
}

/** Parses a JSON body into `unknown`, within parseBoundedJson's bounds; the caller validates its shape. */
export function parseJson(body: string): unknown {
  const answer = parseBoundedJson(body);
  return answer.ok ? answer.value : undefined;
}
