import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";

/**
 * Node's HTTP parser reads a whole chunk (up to 64 KiB, some 1,600 minimal pipelined requests)
 * before it looks at its own backpressure, and keeps a request and a response object for each:
 * 200 clients pipelining without reading held 760 MB that way. This stream sits between the
 * socket and the HTTP server (which takes any Duplex as a connection) and hands the parser a
 * small slice at a time, and only while the connection has no request waiting to be answered.
 */
const sliceBytes = 512;
/** Input read ahead of the parser; past it, the socket stops reading. */
const pendingBound = 16 * 1024;

export class MeteredSocket extends Duplex {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ended = false;
  private wanted = false;

  constructor(
    readonly source: Socket | TLSSocket,
    /** True while the connection may take another request. */
    private readonly open: () => boolean,
  ) {
    // A small read buffer, so slices reach the parser one by one rather than piling up here.
    super({ allowHalfOpen: false, readableHighWaterMark: sliceBytes });
    source.on("data", (chunk: Buffer) => {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > pendingBound) source.pause();
      this.feed();
    });
    source.once("end", () => {
      this.ended = true;
      this.feed();
    });
    source.once("close", () => this.destroy());
    source.on("error", (err) => this.destroy(err));
    source.on("timeout", () => this.emit("timeout"));
  }

  get remoteAddress(): string | undefined {
    return this.source.remoteAddress;
  }

  /** The HTTP server sets its keep-alive and socket timeouts through this. */
  setTimeout(ms: number, callback?: () => void): this {
    this.source.setTimeout(ms);
    if (callback) this.once("timeout", callback);
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.source.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.source.setKeepAlive(enable, delay);
    return this;
  }

  /** Called when the connection became free to take another request. */
  kick(): void {
    this.feed();
  }

  override _read(): void {
    this.wanted = true;
    this.feed();
  }

  /** At most one slice per read the HTTP server asks for, and only while the connection is free. */
  private feed(): void {
    if (this.wanted && this.open() && !this.destroyed) {
      const head = this.pending[0];
      if (head) {
        const slice = head.subarray(0, sliceBytes);
        if (slice.length === head.length) this.pending.shift();
        else this.pending[0] = head.subarray(sliceBytes);
        this.pendingBytes -= slice.length;
        if (this.pendingBytes <= pendingBound / 2 && this.source.isPaused()) this.source.resume();
        // The parser may run on it later (push from _read is buffered): wait for its next read.
        this.wanted = false;
        this.push(slice);
      }
    }
    if (this.ended && this.pending.length === 0) this.push(null);
  }

  override _write(
    chunk: Buffer,
    encoding: BufferEncoding,
    callback: (err?: Error | null) => void,
  ): void {
    // Done when handed to the kernel, so the HTTP server sees a client that does not read.
    this.source.write(chunk, encoding, callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (err?: Error | null) => void,
  ): void {
    this.source.cork();
    for (const [i, { chunk, encoding }] of chunks.entries())
      this.source.write(chunk, encoding, i === chunks.length - 1 ? callback : undefined);
    this.source.uncork();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.source.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.source.destroy();
    callback(err);
  }
}
