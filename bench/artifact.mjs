// The two release artifacts side by side (docs/packaging.md): the .deb's layout (its own Node and
// dist/ under build/deb/usr/lib/rootless-exporter) and the single executable of bench/sea.mjs.
// Alternating rounds on the same fixture host: time to "listening", to the first complete
// /metrics, and RSS after 20 scrapes. Run after `npm run package` and `node bench/sea.mjs`.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const lib = join(root, "build/deb/usr/lib/rootless-exporter");
const artifacts = {
  deb: [join(lib, "node"), join(lib, "dist/main.js")],
  sea: [join(root, "build/sea/rootless-exporter")],
};
const host = mkdtempSync(join(tmpdir(), "artifact-bench-"));
cpSync(join(root, "test/fixtures/broken"), host, { recursive: true });
const flags = [
  `--path.procfs=${host}/proc`,
  `--path.sysfs=${host}/sys`,
  `--path.rootfs=${host}/root`,
  "--target.user=alice",
  "--web.listen-address=127.0.0.1:0",
];

async function once([file, ...args]) {
  const started = performance.now();
  const child = spawn(file, [...args, ...flags], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise((resolve, reject) => {
      let buffered = "";
      const timer = setTimeout(() => reject(new Error("no listening line in 10 s")), 10_000);
      child.stdout.on("data", (chunk) => {
        buffered += chunk;
        for (const line of buffered.split("\n").slice(0, -1))
          if (line.includes('"msg":"listening"')) {
            clearTimeout(timer);
            resolve(JSON.parse(line).port);
          }
        buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
      });
    });
    const listening = performance.now() - started;
    let body = "";
    for (let i = 0; i < 200 && !/^rootless_compliant\{/m.test(body); i++) {
      body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      if (!/^rootless_compliant\{/m.test(body)) await new Promise((r) => setTimeout(r, 25));
    }
    const complete = performance.now() - started;
    for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
    const version = /rootless_exporter_build_info\{version="([^"]*)"/.exec(body)?.[1];
    return { listening, complete, rssMiB: rssKiB / 1024, version };
  } finally {
    child.kill("SIGTERM");
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { deb: [], sea: [] };
try {
  for (let round = 0; round < rounds; round++)
    for (const name of round % 2 ? ["sea", "deb"] : ["deb", "sea"])
      results[name].push(await once(artifacts[name]));
} finally {
  rmSync(host, { recursive: true, force: true });
}
const size = (path) => statSync(path).size / 2 ** 20;
const row = {};
for (const [name, runs] of Object.entries(results))
  row[name] = {
    "listening ms": median(runs.map((r) => r.listening)).toFixed(0),
    "first full /metrics ms": median(runs.map((r) => r.complete)).toFixed(0),
    "RSS MiB": median(runs.map((r) => r.rssMiB)).toFixed(1),
    version: runs[0].version,
  };
console.table(row);
const ratio = (key) => (Number(row.sea[key]) / Number(row.deb[key])).toFixed(2);
console.log(
  `sea/deb: listening ${ratio("listening ms")}, first full /metrics ${ratio("first full /metrics ms")}, RSS ${ratio("RSS MiB")}`,
);
console.log(
  `sizes MiB: deb node ${size(artifacts.deb[0]).toFixed(1)}, sea binary ${size(artifacts.sea[0]).toFixed(1)} + bcrypt.node ${size(join(root, "build/sea/bcrypt.node")).toFixed(2)}`,
);
