// The scaling curve of host mode: bench/host-mode.mjs at 100, 1,000 and 10,000 users (10 % live)
// and at 1,000 users with nobody live, each in its own process (RSS apart), without the per-user
// mode. Prints CPU per cycle, RSS and scrape p99 per size, fits CPU = fixed + a x idle + b x live
// (least squares), and writes the plot to docs/host-curve.svg.
// Run as root after `npm run build`: node bench/host-curve.mjs [sizes=100,1000,10000]
// HOST_CURVE_DIR=<dir> keeps each size's figures there, and a later run reuses those it finds.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const sizes = (process.argv[2] ?? "100,1000,10000").split(",").map(Number);
const points = [...sizes.map((users) => [users, Math.round(users / 10)]), [1000, 0]];
const dir = process.env.HOST_CURVE_DIR ?? mkdtempSync(join(tmpdir(), "rootless-exporter-curve-"));
mkdirSync(dir, { recursive: true });
const results = [];
for (const [users, live] of points) {
  const json = join(dir, `${users}-${live}.json`);
  if (existsSync(json)) {
    results.push(JSON.parse(readFileSync(json, "utf8")));
    continue;
  }
  // Bounded: four cycles after the first (three past 1,000 users), 20 s of scrapes (a 15 s
  // interval: one cycle at least), at most 15 minutes a size. A live user's key names what the
  // last full run found, so the second cycle is a full one that takes keys and reuse starts at
  // the third: with fewer cycles the median would be a full cycle that also takes keys.
  const run = spawnSync(
    process.execPath,
    // Three cycles after the first past 1,000 users: a cycle of 10,000 costs seconds.
    [
      "--expose-gc",
      join(here, "host-mode.mjs"),
      users > 1000 ? "3" : "4",
      String(users),
      String(live),
    ],
    {
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 15 * 60_000,
      env: {
        ...process.env,
        HOST_BENCH_SINGLE: "0",
        HOST_BENCH_SCRAPE_SECONDS: "20",
        HOST_BENCH_JSON: json,
      },
    },
  );
  if (run.status !== 0) throw new Error(`${users} users: host-mode.mjs ended with ${run.status}`);
  results.push(JSON.parse(readFileSync(json, "utf8")));
}
if (!process.env.HOST_CURVE_DIR) rmSync(dir, { recursive: true, force: true });

// Least squares for cycleMs = fixed + a * idle + b * live (normal equations, 3 x 3).
const rows = results.map((r) => [1, r.users - r.live, r.live]);
const ata = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((s, x) => s + x[i] * x[j], 0)));
const atb = [0, 1, 2].map((i) => rows.reduce((s, x, k) => s + x[i] * results[k].cycleMs, 0));
function solve(m, v) {
  const a = m.map((row, i) => [...row, v[i]]);
  for (let c = 0; c < 3; c++) {
    const p = a
      .slice(c)
      .reduce((best, row, i) => (Math.abs(row[c]) > Math.abs(a[best][c]) ? i + c : best), c);
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  }
  return a.map((row, i) => row[3] / row[i]);
}
const [fixed, perIdle, perLive] = solve(ata, atb);

console.log(
  "\nusers   live  CPU/cycle ms  render ms  RSS peak MiB  scrape p99 ms  bare p99 ms  ratio",
);
for (const r of results) {
  console.log(
    [
      String(r.users).padStart(5),
      String(r.live).padStart(6),
      r.cycleMs.toFixed(0).padStart(13),
      r.renderMs.toFixed(1).padStart(10),
      r.daemonPeakRssMiB.toFixed(0).padStart(13),
      r.scrapeP99Ms.toFixed(1).padStart(14),
      r.bareP99Ms.toFixed(1).padStart(12),
      `${(r.scrapeP99Ms / r.bareP99Ms).toFixed(2)}x`.padStart(7),
    ].join(""),
  );
}
console.log(
  `fit: CPU per cycle = ${fixed.toFixed(0)} ms + ${perIdle.toFixed(2)} ms per idle user + ${perLive.toFixed(2)} ms per live user`,
);
const big = results.find((r) => r.users >= 10000);
if (big)
  console.log(
    `10,000 users: peak RSS ${(big.daemonPeakRssMiB * 1.048576).toFixed(0)} MB (target <= 250 MB: ${big.daemonPeakRssMiB * 1.048576 <= 250 ? "met" : "NOT met"}), scrape p99 ${(big.scrapeP99Ms / big.bareP99Ms).toFixed(2)}x the bare server (target <= 1.3x: ${big.scrapeP99Ms / big.bareP99Ms <= 1.3 ? "met" : "NOT met"})`,
  );

// The plot: CPU per cycle and peak RSS against users (log scale), 10 % live.
const curve = results.filter((r) => r.live > 0).sort((a, b) => a.users - b.users);
const w = 560;
const h = 300;
const m = { l: 60, r: 60, t: 30, b: 40 };
const lx = (u) => m.l + ((Math.log10(u) - 2) / 2) * (w - m.l - m.r);
const maxCpu = Math.max(...curve.map((r) => r.cycleMs)) * 1.1;
const maxRss = Math.max(...curve.map((r) => r.daemonPeakRssMiB)) * 1.1;
const y = (v, max) => h - m.b - (v / max) * (h - m.t - m.b);
const line = (key, max, colour) =>
  `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${curve.map((r) => `${lx(r.users).toFixed(1)},${y(r[key], max).toFixed(1)}`).join(" ")}"/>` +
  curve
    .map(
      (r) =>
        `<circle cx="${lx(r.users).toFixed(1)}" cy="${y(r[key], max).toFixed(1)}" r="3" fill="${colour}"/><text x="${(lx(r.users) + 5).toFixed(1)}" y="${(y(r[key], max) - 6).toFixed(1)}" font-size="11" fill="${colour}">${r[key].toFixed(0)}</text>`,
    )
    .join("");
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="${w}" height="${h}" fill="white"/>
<text x="${m.l}" y="18" font-size="13">host mode, 10 % of users live: CPU per cycle (ms, blue) and peak RSS (MiB, red)</text>
<line x1="${m.l}" y1="${h - m.b}" x2="${w - m.r}" y2="${h - m.b}" stroke="black"/>
${[100, 1000, 10000].map((u) => `<text x="${lx(u) - 15}" y="${h - m.b + 18}" font-size="11">${u} users</text>`).join("")}
${line("cycleMs", maxCpu, "#1f5fbf")}
${line("daemonPeakRssMiB", maxRss, "#bf1f1f")}
<text x="${m.l}" y="${h - 6}" font-size="11">fit: ${fixed.toFixed(0)} ms + ${perIdle.toFixed(2)} ms per idle user + ${perLive.toFixed(2)} ms per live user (bench/host-curve.mjs)</text>
</svg>
`;
writeFileSync(join(here, "../docs/host-curve.svg"), svg);
console.log("plot written to docs/host-curve.svg");
