#!/usr/bin/env node
import { fetchOnce, listen, portOf, serveOnce } from "./host/tcp-probe.js";

/**
 * The half of the throughput probe that runs inside rootlesskit's network namespace, started by
 * the exporter through `nsenter` with a fixed argument vector:
 *   probe-agent serve BYTES TIMEOUT_MS        listen on 0.0.0.0, print {"port":N}, stream BYTES to
 *                                             the first connection, print {"peer":...,"report":...}
 *   probe-agent serve-at PORT BYTES TIMEOUT_MS   the same on PORT (pasta forwards the same port)
 *   probe-agent fetch HOST PORT BYTES TIMEOUT_MS   read BYTES from HOST:PORT, print the report
 */
async function agent(argv: readonly string[]): Promise<number> {
  const [mode, ...rest] = argv;
  const int = (text: string | undefined): number => {
    if (!text || !/^\d{1,12}$/.test(text))
      throw new Error(`expected a number, got ${JSON.stringify(text)}`);
    return Number(text);
  };
  if (mode === "serve" || mode === "serve-at") {
    const at = mode === "serve-at" ? int(rest.shift()) : 0;
    const [bytes, timeout] = [int(rest[0]), int(rest[1])];
    const server = await listen("0.0.0.0", at);
    process.stdout.write(`${JSON.stringify({ port: portOf(server) })}\n`);
    const served = await serveOnce(server, bytes, timeout);
    process.stdout.write(`${JSON.stringify(served)}\n`);
    return 0;
  }
  if (mode === "fetch") {
    const [host, port, bytes, timeout] = [rest[0] ?? "", int(rest[1]), int(rest[2]), int(rest[3])];
    const report = await fetchOnce(host, port, bytes, timeout);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  throw new Error(`unknown mode ${JSON.stringify(mode)}; expected serve or fetch`);
}

// A hard stop whatever happens: the agent never outlives its probe.
const deadline = Number(process.argv.at(-1));
setTimeout(() => process.exit(3), (Number.isFinite(deadline) ? deadline : 60_000) + 2000).unref();

agent(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`probe-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
