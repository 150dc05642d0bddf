import { ServingThread } from "../dist/exporter/http/serving-thread.js";
import { ExporterServer } from "../dist/exporter/http/server.js";
import { pino } from "pino";
import { Agent, request } from "node:http";
const mode = process.argv[2];
const log = pino({ level: "silent" });
const body = [Buffer.alloc(3_600_000, 0x61)];
const rss = () => (process.memoryUsage().rss / 2 ** 20).toFixed(1);
globalThis.gc?.();
console.log(mode, "rss before", rss());
let port;
if (mode === "main") {
  const s = new ExporterServer({ telemetryPath: "/metrics", metrics: () => ({ contentType: "t", body }), landing: () => "", checks: () => ({}) }, log, { maxConnections: 10, maxRequests: 10 });
  port = (await s.start({ host: "127.0.0.1", port: 0 })).port;
} else {
  const t = new ServingThread({ landing: () => "", checks: () => ({}), scraped: () => {} }, log, { listen: { host: "127.0.0.1", port: 0 }, telemetryPath: "/metrics", contentType: "t", maxConnections: 10, maxRequests: 10, webConfigFile: undefined, logLevel: "silent" });
  port = (await t.start()).port;
  t.publish("t", body);
}
console.log(mode, "rss started", rss());
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((res) => request({ host: "127.0.0.1", port, path: "/metrics", agent }, (r) => { r.resume(); r.on("end", res); }).end());
for (let i = 0; i < 300; i++) await get();
console.log(mode, "rss after 300 scrapes", rss(), "hwm", /VmHWM:\s+(\d+)/.exec((await import("node:fs")).readFileSync("/proc/self/status", "utf8"))[1] / 1024);
process.exit(0);
