import type { Socket } from "node:net";
import { pino } from "pino";
import type { FactsByCollector } from "../../src/collectors/registry.js";
import type { SamplesInput } from "../../src/exporter/render/samples.js";
import type { TargetView } from "../../src/exporter/schedule/views.js";
import type { Target } from "../../src/host/target.js";
import { alice, healthyFacts } from "./healthy-facts.js";

// What the tests of a big body served as parts over real sockets share (heaprev-http-parts,
// cyclerev-serve-paths): 400 users' snapshots, one user's change at a time, and a reader of
// HTTP/1.1 answers off a socket. `cleanups` are run by each file's afterEach.

export const log = pino({ level: "silent" });
export const cleanups: (() => unknown)[] = [];
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const healthy = healthyFacts();
const user = (i: number): Target => ({
  ...alice,
  name: `user${i}`,
  uid: 10_000 + i,
  gid: 10_000 + i,
  groups: [10_000 + i],
  home: `/home/user${i}`,
  runtimeDir: `/run/user/${10_000 + i}`,
});
const targets = Array.from({ length: 400 }, (_, i) => user(i));

export function world() {
  let views = targets.map(
    (target) =>
      ({ target, facts: healthy, complete: true, errors: [] }) as TargetView<FactsByCollector>,
  );
  const samples = (): SamplesInput => ({
    collectors: [],
    views,
    host: { kernel: healthy.kernel },
    hostFindings: [],
    mode: "host",
    userRuns: views.map((v) => ({ collector: "docker", user: v.target.name, ok: true })),
    build: { version: "0.0.0", nodejsVersion: "v20" },
  });
  /** One user's docker facts changed: a block or two of the next rendering are new buffers. */
  const change = (round: number): void => {
    const i = round % views.length;
    views = views.map((v, j) =>
      j === i
        ? {
            ...v,
            facts: { ...healthy, docker: { ...healthy.docker, apiUp: round % 2 === 0 } },
          }
        : v,
    );
  };
  return { samples, change };
}

export interface Answer {
  head: string;
  body: Buffer;
}

/** Reads `count` HTTP/1.1 answers off `socket` (Content-Length bodies; none for HEAD). */
export function answers(socket: Socket, methods: readonly string[]): Promise<Answer[]> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const out: Answer[] = [];
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      for (;;) {
        const end = data.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = data.subarray(0, end).toString();
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? "0");
        const bodyLength = methods[out.length] === "HEAD" ? 0 : length;
        if (data.length < end + 4 + bodyLength) return;
        out.push({ head, body: Buffer.from(data.subarray(end + 4, end + 4 + bodyLength)) });
        data = data.subarray(end + 4 + bodyLength);
        if (out.length === methods.length) resolve(out);
      }
    });
    socket.on("error", reject);
  });
}
