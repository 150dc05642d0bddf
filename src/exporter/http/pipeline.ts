import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { MeteredSocket } from "./metered-socket.js";

/**
 * Requests parsed ahead of their answers; a 512-byte slice holds fewer, so this is only a net
 * (past it the connection is closed).
 */
const maxPipelined = 64;
const pipelinedPerTurn = 16;

export interface Connection {
  readonly raw: Socket;
  /** Requests parsed and waiting for the one before them to be written out. */
  readonly queue: (() => void)[];
  /** A request of this connection is being answered (or its answer is not yet written out). */
  busy: boolean;
  stream: MeteredSocket | undefined;
}

/** HTTP/1.1 pipelining kept fair: one request per connection at a time, a few per loop turn. */
export class Pipeline {
  /** By the stream the HTTP server reads (req.socket). */
  readonly byStream = new WeakMap<object, Connection>();
  /** Connections whose next pipelined request waits for a turn (see later()). */
  private waiting: Connection[] = [];

  constructor(private readonly handle: (req: IncomingMessage, res: ServerResponse) => void) {}

  /** One request per connection at a time, the next only once the answer before is written out. */
  enqueue(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.byStream.get(req.socket);
    if (!connection) {
      this.handle(req, res);
      return;
    }
    if (connection.queue.length >= maxPipelined) {
      req.socket.destroy();
      return;
    }
    connection.queue.push(() => {
      const done = (): void => {
        res.off("finish", done).off("close", done);
        connection.busy = false;
        if (connection.queue.length === 0) this.next(connection);
        else this.later(connection);
      };
      // "finish" comes when the answer was handed to the kernel: a client that does not read
      // holds up only its own connection, with one answer in memory.
      res.on("finish", done).on("close", done);
      this.handle(req, res);
    });
    this.next(connection);
  }

  /**
   * A pipelined request waits for a later turn of the event loop, and a turn answers at most
   * `pipelinedPerTurn` of them across all connections: while the kernel takes every write at
   * once, pipelining clients would otherwise be answered back to back and starve a new scrape,
   * which is answered as soon as it is read.
   */
  private later(connection: Connection): void {
    this.waiting.push(connection);
    if (this.waiting.length === 1) setImmediate(() => this.turn());
  }

  private turn(): void {
    const now = this.waiting.splice(0, pipelinedPerTurn);
    for (const connection of now) this.next(connection);
    if (this.waiting.length > 0) setImmediate(() => this.turn());
  }

  private next(connection: Connection): void {
    if (connection.busy || connection.raw.destroyed) return;
    const run = connection.queue.shift();
    if (!run) {
      connection.stream?.kick();
      return;
    }
    connection.busy = true;
    run();
  }
}
