import type { ScenarioResult } from "../validate/run.js";
import type { Verdict } from "./access.js";
import type { PlanMatch } from "./applied-plan.js";
import { resultOf, type Evidence } from "./evidence.js";

/**
 * report.html: the same evidence as attestation.json, for a reviewer who is not an engineer. One
 * self-contained file (inline CSS, no script, font, image or other fetch) that reads the same on
 * screen, printed and saved as PDF. Every value from outside passes through `esc`. Pure.
 */
export function reportHtml(e: Evidence): string {
  const result = resultOf(e);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(`Gateway validation ${result}: ${e.service.name} (${e.environment}), ${when(e.finishedAt)}`)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<p class="kicker">Agent Eligibility Gateway · validation evidence</p>
<h1>${esc(e.service.name)} <span class="env">${esc(e.environment)}</span></h1>
<p class="result ${result.toLowerCase()}" id="result">${esc(RESULT_WORDS[result])}</p>
</header>
<main>
${summary(e, result)}
${scenarios(e)}
${policies(e)}
${access(e)}
${notChecked(e)}
<section id="about">
<h2>About this report</h2>
<p>It was written by <code>aeg ${esc(e.aegVersion)}</code> after calling the live gateway with each scenario above. Beside it, <code>attestation.json</code> states the same result as an in-toto statement whose subjects are the policy documents listed here, each by its Azure resource id and SHA-256 digest. A digest here that differs from the one computed over the policy stored in Azure today means the policy has changed since this run.</p>
</section>
</main>
</body>
</html>
`;
}

const RESULT_WORDS = { PASSED: "Passed: the gateway behaved as its contract requires in every scenario", FAILED: "Failed: at least one scenario did not behave as the contract requires", WARNED: "Not tested: validation did not run" };

function summary(e: Evidence, result: string): string {
  const passed = e.scenarios.filter((s) => s.passed).length;
  const failed = e.scenarios.length - passed;
  const rows: Array<[string, string]> = [
    ["Result", `<strong>${esc(result)}</strong>`],
    ["Scenarios", `${e.scenarios.length} run: ${passed} passed, ${failed} failed`],
    ["Environment", `${esc(e.environment)} (${esc(e.cloud)})`],
    ["Gateway", `${esc(e.service.gatewayUrl)}<br><span class="id">${esc(e.service.id)}</span>`],
    ["Policy version", e.policyVersion !== undefined ? esc(e.policyVersion) : "not read (see below)"],
    ["When", `${esc(when(e.startedAt))} to ${esc(when(e.finishedAt))}`],
    ["By whom", operatorText(e.operator)],
    ["Policy documents", `${e.policies.length}, ${planSummary(e)}`],
    ["Gateway identity's access", accessSummary(e)],
    ["Change", changeText(e)],
    ["Configuration", `SHA-256 <span class="digest">${esc(e.configurationDigest)}</span>`],
  ];
  if (e.url) rows.push(["Pipeline run", /^https?:\/\//i.test(e.url) ? `<a href="${esc(e.url)}">${esc(e.url)}</a>` : esc(e.url)]);
  if (e.skipped) rows.push(["Validation", `did not run: ${esc(e.skipped)}`]);
  return `<section id="summary">
<h2>Summary</h2>
<dl>${rows.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join("")}</dl>
</section>`;
}

function scenarios(e: Evidence): string {
  if (e.scenarios.length === 0) return `<section id="scenarios"><h2>Scenarios</h2><p>No scenario ran.</p></section>`;
  const rows = e.scenarios.map((s, i) => scenarioRow(s, i + 1, e.decisionLogChecked)).join("\n");
  return `<section id="scenarios">
<h2>Scenarios</h2>
<p>Each scenario calls one agent's operation on the gateway as one caller, and compares the answer, and the decision record the gateway must log, with the contract.</p>
<table>
<thead><tr><th>#</th><th>Outcome</th><th>Caller</th><th>Agent and scenario</th><th>Expected</th><th>Actual</th><th>Decision record</th><th>Correlation id</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</section>`;
}

function scenarioRow(s: ScenarioResult, n: number, decisionLogChecked: boolean): string {
  const caller = `${esc(s.caller.label)}${s.caller.upn ? `<br><span class="upn">${esc(s.caller.upn)}</span>` : ""}`;
  const expected = `${s.expected.status} ${esc(s.expected.denyReason)}${s.expected.anomaly ? "<br>anomaly" : ""}`;
  const actual = `${s.actual.status ?? "no answer"} ${esc(s.actual.denyReason ?? "(no denyReason)")}${s.actual.anomaly ? "<br>anomaly" : ""}`;
  const hub = s.actual.records === 1 ? "in the Event Hub" : `${s.actual.records} records in the Event Hub`;
  const log = s.actual.sinkRows !== undefined ? (s.actual.sinkRows === 1 ? "in fsi_aegdecisionlog" : `${s.actual.sinkRows} rows in fsi_aegdecisionlog`) : decisionLogChecked ? "fsi_aegdecisionlog not read" : "fsi_aegdecisionlog not checked";
  const problems = s.problems.length > 0 ? `<ul class="problems">${s.problems.map((p) => `<li>${esc(p)}</li>`).join("")}</ul>` : "";
  return `<tr class="scenario ${s.passed ? "passed" : "failed"}" data-correlation-id="${esc(s.correlationId)}">
<td>${n}</td><td class="outcome">${s.passed ? "Passed" : "Failed"}</td><td>${caller}</td><td><strong>${esc(s.agentId)}</strong><br>${esc(s.name)}${problems}</td><td>${expected}</td><td>${actual}</td><td>${hub}<br>${log}</td><td class="id">${esc(s.correlationId)}</td>
</tr>`;
}

const PLAN_WORDS: Record<PlanMatch, string> = {
  matches: "matches the last applied plan",
  differs: "differs from the last applied plan",
  "not-in-plan": "not in the last applied plan",
  "no-digests": "the last applied plan recorded no policy digests",
  "no-plan": "no applied plan recorded",
};

function policies(e: Evidence): string {
  const rows = e.policies
    .map(
      (p) => `<tr class="policy plan-${p.plan}"><td><strong>${esc(p.label)}</strong><br>${esc(KIND_WORDS[p.kind])}</td><td class="id">${esc(p.resourceId)}</td><td class="digest">${esc(p.sha256)}</td><td>${esc(PLAN_WORDS[p.plan])}</td></tr>`,
    )
    .join("\n");
  return `<section id="policies">
<h2>Policy documents the gateway runs</h2>
<p>Read from Azure after the scenarios ran, in the form Azure stores them (<code>format=xml</code>). The SHA-256 digest identifies each document's exact content.</p>
<table>
<thead><tr><th>Document</th><th>Azure resource id</th><th>SHA-256</th><th>Against the applied plan</th></tr></thead>
<tbody>
${rows || `<tr><td colspan="4">No policy document was found.</td></tr>`}
</tbody>
</table>
</section>`;
}

const KIND_WORDS = { fragment: "policy fragment", api: "API policy", operation: "operation policy" };

const VERDICT_WORDS: Record<Verdict, string> = { expected: "Expected", excess: "Excess", missing: "Missing" };

function verdictCell(v: Verdict, why: string): string {
  return `<td class="verdict ${v}"><strong>${VERDICT_WORDS[v]}</strong><br>${esc(why)}</td>`;
}

function access(e: Evidence): string {
  const a = e.access;
  const azure = a.azure
    ? `<table><thead><tr><th>Role</th><th>Scope</th><th>Review</th></tr></thead><tbody>${a.azure.map((r) => `<tr class="grant"><td>${esc(r.role)}</td><td class="id">${esc(r.scope)}</td>${verdictCell(r.verdict, r.why)}</tr>`).join("")}</tbody></table>`
    : `<p>Not checked (see below).</p>`;
  const dataverse = a.dataverse
    ? a.dataverse.length === 0
      ? "<p>No Dataverse role.</p>"
      : a.dataverse
          .map(
            (r) =>
              `<h4>${esc(r.name)} <span class="verdict-tag ${r.verdict}">${VERDICT_WORDS[r.verdict]}</span></h4><p>${esc(r.why)}</p><table><thead><tr><th>Privilege</th><th>Depth</th><th>Review</th></tr></thead><tbody>${
                r.privileges.map((p) => `<tr class="grant"><td>${esc(p.name)}</td><td>${esc(p.depth)}</td>${verdictCell(p.verdict, p.why)}</tr>`).join("") || `<tr><td colspan="3">No privilege.</td></tr>`
              }</tbody></table>`,
          )
          .join("\n")
    : `<p>Not checked (see below).</p>`;
  const graph = a.graph
    ? a.graph.length === 0
      ? "<p>No application permission, as designed.</p>"
      : `<table><thead><tr><th>API</th><th>Application permission</th><th>Review</th></tr></thead><tbody>${a.graph.map((g) => `<tr class="grant"><td>${esc(g.resource)}</td><td>${esc(g.permission)}</td>${verdictCell(g.verdict, g.why)}</tr>`).join("")}</tbody></table>`
    : `<p>Not checked (see below).</p>`;
  return `<section id="access">
<h2>The gateway identity's access</h2>
<p>For access reviews: what the gateway's managed identity${a.principalId ? ` (object id <span class="id">${esc(a.principalId)}</span>)` : ""} holds, each grant marked <em>Expected</em> by aeg's least-privilege design, <em>Excess</em> (more than the design needs: remove it), or <em>Missing</em> (the design needs it, and the gateway will fail closed without it).</p>
<h3>Azure role assignments</h3>
${azure}
<h3>Dataverse security roles</h3>
${dataverse}
<h3>Microsoft Graph application permissions</h3>
${graph}
</section>`;
}

function notChecked(e: Evidence): string {
  const items = e.notChecked.map((n) => `<li><strong>${esc(n.what)}</strong>: ${esc(n.why)}</li>`).join("\n");
  return `<section id="not-checked">
<h2>What was not checked</h2>
${items ? `<ul>${items}</ul>` : "<p>Nothing: every check above ran.</p>"}
</section>`;
}

function operatorText(o: Evidence["operator"]): string {
  const who = o.name ?? o.objectId ?? "unknown identity";
  return `${esc(who)} (${o.kind === "user" ? "user" : "application"}${o.objectId && o.name ? `, object id <span class="id">${esc(o.objectId)}</span>` : ""})`;
}

function planSummary(e: Evidence): string {
  if (e.appliedPlan.state !== "recorded") return "no applied plan recorded";
  const n = (m: PlanMatch) => e.policies.filter((p) => p.plan === m).length;
  if (n("no-digests") === e.policies.length) return "the last applied plan recorded no policy digests";
  return `${n("matches")} match the last applied plan, ${n("differs")} differ, ${n("not-in-plan")} not in it`;
}

function accessSummary(e: Evidence): string {
  const all = [...(e.access.azure ?? []), ...(e.access.dataverse ?? []).flatMap((r) => [r, ...r.privileges]), ...(e.access.graph ?? [])];
  const n = (v: Verdict) => all.filter((x) => x.verdict === v).length;
  return `${n("expected")} expected, ${n("excess")} excess, ${n("missing")} missing`;
}

function changeText(e: Evidence): string {
  const a = e.appliedPlan;
  if (a.state === "none") return "no applied plan recorded";
  if (a.state === "unreadable") return `the journal's record of the last apply cannot be read: ${esc(a.why)}`;
  const p = a.plan;
  const who = (i?: { objectId?: string; name?: string }) => (i ? esc(i.name ?? i.objectId ?? "unknown") : "not recorded");
  return [
    `change ${p.changeId ? esc(p.changeId) : "(no change id)"}`,
    `planned by ${who(p.planner)}${p.plannedAt ? ` at ${esc(when(p.plannedAt))}` : ""}`,
    `applied by ${who(p.applier)}${p.appliedAt ? ` at ${esc(when(p.appliedAt))}` : ""}`,
    `plan SHA-256 <span class="digest">${esc(p.planDigest)}</span>`,
  ].join("<br>");
}

/** An ISO time as people read it, in UTC. */
function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function esc(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const CSS = `
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9; --warn: #9a6700; --warn-bg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px; color: var(--ink); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { margin: 0 0 8px; font-size: 28px; }
h2 { margin: 32px 0 8px; font-size: 21px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin: 20px 0 6px; font-size: 17px; }
h4 { margin: 14px 0 2px; font-size: 15px; }
.kicker { margin: 0; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; font-size: 12px; }
.env { font-weight: normal; color: var(--muted); font-size: 20px; }
.result { display: inline-block; margin: 4px 0 0; padding: 8px 14px; border-radius: 6px; font-weight: 600; }
.result.passed { color: var(--pass); background: var(--pass-bg); }
.result.failed { color: var(--fail); background: var(--fail-bg); }
.result.warned { color: var(--warn); background: var(--warn-bg); }
dl { display: grid; grid-template-columns: 1fr; margin: 0; border: 1px solid var(--line); border-radius: 6px; }
dl > div { display: grid; grid-template-columns: 220px 1fr; border-top: 1px solid var(--line); }
dl > div:first-child { border-top: 0; }
dt { padding: 6px 10px; font-weight: 600; background: #f6f8fa; }
dd { margin: 0; padding: 6px 10px; }
table { width: 100%; border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 5px 7px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.id, .digest, .upn, code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
tr.failed td { background: var(--fail-bg); }
tr.failed .outcome { color: var(--fail); font-weight: 700; }
tr.passed .outcome { color: var(--pass); font-weight: 700; }
.problems { margin: 4px 0 0; padding-left: 18px; color: var(--fail); }
.verdict.excess strong, .verdict-tag.excess, tr.plan-differs td:last-child { color: var(--fail); }
.verdict.missing strong, .verdict-tag.missing { color: var(--warn); }
.verdict.expected strong, .verdict-tag.expected { color: var(--pass); }
.verdict-tag { font-size: 13px; font-weight: 600; }
a { color: #0969da; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  @page { margin: 14mm; }
  h2 { break-after: avoid; }
  tr, dl > div { break-inside: avoid; }
  thead { display: table-header-group; }
  table { font-size: 9pt; }
  .result, tr.failed td, dt, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; }
}
`;
