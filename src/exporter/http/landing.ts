import type { Finding } from "../../checks/finding.js";
import { escapeInvisible } from "../../checks/quoted.js";
import type { UserFindings } from "../render/findings.js";
import { sortedFindings, worstFirst } from "../render/findings.js";
import type { CollectorState } from "../schedule/ledger.js";

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

function checkRows(findings: readonly Finding[]): string {
  return sortedFindings(findings)
    .map(
      (f) =>
        `<tr class="${f.state}"><td>${escapeHtml(f.id)}</td><td>${f.severity}</td><td>${f.state}</td><td>${escapeHtml(f.summary.en)}</td><td><pre>${escapeHtml(f.remediation?.en ?? "")}</pre></td></tr>`,
    )
    .join("\n");
}

const checkHead =
  "<table><thead><tr><th>check</th><th>severity</th><th>state</th><th>summary</th><th>fix</th></tr></thead>";

function failing(findings: readonly Finding[], severity: string): number {
  return findings.filter((f) => f.state === "fail" && f.severity === severity).length;
}

const modeText: Record<string, string> = {
  self: "the user running it",
  listed: "the users named by --target.user",
  host: "every user of this host with rootless Docker set up (host mode)",
};

/**
 * The page at /: what this is, where the metrics are, how each collector last ran, then every
 * watched user worst first: a one-line summary each (readable with hundreds of users), the host
 * checks once, and each user's own checks, open for a user with a failing check.
 */
export function landingPage(options: {
  readonly version: string;
  readonly telemetryPath: string;
  readonly mode: string;
  readonly states: readonly CollectorState[];
  readonly users: readonly UserFindings[];
  /** The host checks on the host's facts alone (shown when nobody is watched). */
  readonly hostFindings: readonly Finding[];
}): string {
  const users = worstFirst(options.users);
  const rows = options.states
    .map((state) => {
      const when = state.lastRunAt === undefined ? "" : new Date(state.lastRunAt).toISOString();
      const took =
        state.durationSeconds === undefined
          ? ""
          : `${(state.durationSeconds * 1000).toFixed(1)} ms`;
      return `<tr><td>${escapeHtml(state.name)}</td><td>${state.scope}</td><td>${state.intervalSeconds}s</td><td>${when}</td><td>${took}</td><td>${escapeHtml(statusOf(state))}</td></tr>`;
    })
    .join("\n");
  const summary = users
    .map(({ user, uid, findings, errors }) => {
      const unknown = findings.filter((f) => f.state === "unknown").length;
      const bad = failing(findings, "critical") + failing(findings, "warning") > 0;
      return `<tr class="${bad ? "fail" : unknown > 0 ? "unknown" : "pass"}"><td><a href="#user-${uid}">${escapeHtml(user)}</a></td><td>${uid}</td><td>${failing(findings, "critical")}</td><td>${failing(findings, "warning")}</td><td>${failing(findings, "info")}</td><td>${unknown}</td><td>${errors.length}</td></tr>`;
    })
    .join("\n");
  const hostFindings = users[0]?.findings.filter((f) => f.scope === "host") ?? options.hostFindings;
  const details = users
    .map(({ user, uid, findings, errors }) => {
      const own = findings.filter((f) => f.scope === "user");
      const open = own.some((f) => f.state !== "pass") || errors.length > 0 ? " open" : "";
      // A collector's error may quote a user's bus or socket: no bidi override in the page.
      const errorList = errors.map((e) => `<li>${escapeHtml(escapeInvisible(e))}</li>`).join("");
      return `<details id="user-${uid}"${open}><summary>${escapeHtml(user)} (uid ${uid})</summary>
${errorList ? `<ul class="errors">${errorList}</ul>` : ""}${checkHead}<tbody>
${checkRows(own)}
</tbody></table></details>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rootless-exporter</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}tr.fail{background:#fee}tr.unknown{background:#ffd}pre{margin:0;white-space:pre-wrap}details{margin:.5em 0}summary{font-weight:bold;cursor:pointer}.errors{color:#900}</style>
</head><body>
<h1>rootless-exporter ${escapeHtml(options.version)}</h1>
<p>Prometheus exporter for the health and setup of rootless Docker, watching ${escapeHtml(modeText[options.mode] ?? options.mode)}: <b>${users.length}</b> user${users.length === 1 ? "" : "s"}.</p>
<p><a href="${escapeHtml(options.telemetryPath)}">Metrics</a> · <a href="/healthz">Health</a> · <a href="/checks">Checks as JSON</a> · <a href="/checks?lang=zh-CN">中文</a></p>
<table><thead><tr><th>collector</th><th>scope</th><th>interval</th><th>last run</th><th>duration</th><th>status</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<h2>Users, worst first</h2>
<table><thead><tr><th>user</th><th>uid</th><th>critical failing</th><th>warning failing</th><th>info failing</th><th>unknown</th><th>collector errors</th></tr></thead>
<tbody>
${summary}
</tbody></table>
<h2>Host checks</h2>
${checkHead}<tbody>
${checkRows(hostFindings)}
</tbody></table>
<h2>Each user's checks</h2>
${details}
</body></html>
`;
}
