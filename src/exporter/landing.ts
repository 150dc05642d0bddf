import type { Finding } from "../checks/finding.js";
import { severities } from "../checks/finding.js";
import type { CollectorState } from "./scheduler.js";

const escapes: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapes[c] ?? c);
}

function statusOf(state: CollectorState): string {
  if (state.ok === undefined) return "not run yet";
  return state.ok ? "ok" : `failed: ${state.error ?? "unknown error"}`;
}

/** The page at /: what this is, where the metrics are, and how each collector last ran. */
export function landingPage(options: {
  readonly version: string;
  readonly telemetryPath: string;
  readonly user: string;
  readonly states: readonly CollectorState[];
  readonly findings: readonly Finding[];
}): string {
  const order = { fail: 0, unknown: 1, pass: 2 } as const;
  const checks = [...options.findings]
    .sort(
      (a, b) =>
        order[a.state] - order[b.state] ||
        severities.indexOf(a.severity) - severities.indexOf(b.severity),
    )
    .map(
      (f) =>
        `<tr class="${f.state}"><td>${escapeHtml(f.id)}</td><td>${f.severity}</td><td>${f.state}</td><td>${escapeHtml(f.summary.en)}</td><td><pre>${escapeHtml(f.remediation?.en ?? "")}</pre></td></tr>`,
    )
    .join("\n");
  const rows = options.states
    .map((state) => {
      const when = state.lastRunAt === undefined ? "" : new Date(state.lastRunAt).toISOString();
      const took =
        state.durationSeconds === undefined
          ? ""
          : `${(state.durationSeconds * 1000).toFixed(1)} ms`;
      return `<tr><td>${escapeHtml(state.name)}</td><td>${state.intervalSeconds}s</td><td>${when}</td><td>${took}</td><td>${escapeHtml(statusOf(state))}</td></tr>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rootless-exporter</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}tr.fail{background:#fee}tr.unknown{background:#ffd}pre{margin:0;white-space:pre-wrap}</style>
</head><body>
<h1>rootless-exporter ${escapeHtml(options.version)}</h1>
<p>Prometheus exporter for the health and setup of rootless Docker, watching user <b>${escapeHtml(options.user)}</b>.</p>
<p><a href="${escapeHtml(options.telemetryPath)}">Metrics</a> · <a href="/healthz">Health</a></p>
<table><thead><tr><th>collector</th><th>interval</th><th>last run</th><th>duration</th><th>status</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Checks</h2>
<p>Also as JSON: <a href="/checks">/checks</a> · <a href="/checks?lang=zh-CN">中文</a></p>
<table><thead><tr><th>check</th><th>severity</th><th>state</th><th>summary</th><th>fix</th></tr></thead>
<tbody>
${checks}
</tbody></table>
</body></html>
`;
}
