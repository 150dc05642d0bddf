// A fake rootlesskit for test/e2e/hostile-text.test.ts, run by the hostile user under an
// executable named rootlesskit: it serves, as that user, docker.sock in $XDG_RUNTIME_DIR and
// api.sock in its --state-dir, answering with the texts and labels of issue 16's attacks 4 and 5.
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const runtimeDir = process.env["XDG_RUNTIME_DIR"] ?? "";
const stateDir = (process.argv.find((a) => a.startsWith("--state-dir=")) ?? "").slice(12);
const protoCount = Number(process.env["HOSTILE_PROTOS"] ?? "9500");
const texts = JSON.parse(process.env["HOSTILE_TEXTS"] ?? "{}");

const info = JSON.stringify({
  ServerVersion: texts.version,
  Driver: texts.driver,
  CgroupDriver: "systemd",
  CgroupVersion: "2",
  SecurityOptions: ["name=rootless"],
  ContainersRunning: 0,
  ContainersPaused: 0,
  ContainersStopped: 0,
});
const kitInfo = JSON.stringify({
  apiVersion: "1.1.1",
  version: texts.version,
  stateDir,
  networkDriver: { driver: texts.networkDriver, dns: [] },
  portDriver: { driver: "builtin", protos: ["tcp", "udp"] },
});
// Distinct protos, a few of them real ones: 9,500 entries stay under the 1 MiB answer bound.
const ports = JSON.stringify(
  Array.from({ length: protoCount }, (_, i) => ({
    id: i,
    spec: { proto: i < 3 ? "tcp6" : `p${i}`, parentPort: 1 + (i % 65535), childPort: 80 },
  })),
);

function serve(socket, routes) {
  rmSync(socket, { force: true });
  const server = createServer((req, res) => {
    const body = routes[req.url ?? ""];
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
    res.end(body ?? "{}");
  });
  server.listen(socket);
}

mkdirSync(stateDir, { recursive: true, mode: 0o700 });
serve(join(runtimeDir, "docker.sock"), { "/info": info, "/_ping": "OK" });
serve(join(stateDir, "api.sock"), { "/v1/info": kitInfo, "/v1/ports": ports });
// Bounded: the test kills it long before.
setTimeout(() => process.exit(0), 600_000);
