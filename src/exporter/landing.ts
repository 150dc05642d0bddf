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
}): string {
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
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style>
</head><body>
<h1>rootless-exporter ${escapeHtml(options.version)}</h1>
<p>Prometheus exporter for the health and setup of rootless Docker, watching user <b>${escapeHtml(options.user)}</b>.</p>
<p><a href="${escapeHtml(options.telemetryPath)}">Metrics</a> · <a href="/healthz">Health</a></p>
<table><thead><tr><th>collector</th><th>interval</th><th>last run</th><th>duration</th><th>status</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
