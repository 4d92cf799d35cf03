import type { Change, FieldChange, StepReport } from "../engine/change.js";

const SYMBOL: Record<string, string> = { create: "+", update: "~", delete: "-", ok: "=", unverifiable: "?", blocked: "!" };

/** The plan as a person reads it: per step its status, per resource its action and field diffs. Pure. */
export function formatPlan(reports: StepReport[], opts: { verbose?: boolean } = {}): string[] {
  const lines: string[] = [];
  const width = Math.max(15, ...reports.map((r) => r.id.length));
  for (const report of reports) {
    lines.push(`${report.id.padEnd(width)} ${report.status}${report.error ? `: ${report.error}` : ""}`);
    for (const change of report.changes) {
      if (change.action === "ok" && !opts.verbose) continue;
      lines.push(...formatChange(change));
    }
  }
  return lines;
}

function formatChange(change: Change): string[] {
  const head = `  ${SYMBOL[change.action] ?? " "} ${change.resource}${change.note ? `  (${change.note})` : ""}`;
  const hint = change.action === "blocked" && change.hint ? [`      blocked: ${change.hint}`] : [];
  return [head, ...hint, ...change.fields.flatMap(formatField)];
}

function formatField(field: FieldChange): string[] {
  if (field.secret) return [`      ${field.field}: (secret, not shown)`];
  if (field.lines) return [`      ${field.field}:`, ...field.lines.map((l) => `        ${l}`)];
  if (field.from === undefined) return [`      ${field.field}: ${show(field.to)}`];
  return [`      ${field.field}: ${show(field.from)} -> ${show(field.to)}`];
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** "3 to create, 1 to update, 12 unchanged" */
export function planSummary(reports: StepReport[]): string {
  const counts = new Map<string, number>();
  for (const c of reports.flatMap((r) => r.changes)) counts.set(c.action, (counts.get(c.action) ?? 0) + 1);
  const part = (action: string, label: string) => (counts.get(action) ? `${counts.get(action)} ${label}` : undefined);
  return [part("blocked", "blocked"), part("create", "to create"), part("update", "to update"), part("delete", "to delete"), part("unverifiable", "unverifiable"), part("ok", "in sync")]
    .filter(Boolean)
    .join(", ");
}

/** The plan as setup, `--dry-run` and `aeg plan` show it. */
export function planReport(plan: StepReport[]): string[] {
  return ["Plan:", ...formatPlan(plan).map((line) => `  ${line}`), `  ${planSummary(plan)}`];
}

/**
 * What was written, counted from the apply itself. A step re-plans once its upstream has written
 * (a new instance's children can be read only once it exists), so the count may differ from the
 * plan's: then both are said.
 */
export function appliedSummary(planned: number, applied: number): string {
  const counted = `${applied} change${applied === 1 ? "" : "s"} applied and verified by a second read`;
  return applied === planned ? counted : `${counted} (the plan showed ${planned}; the rest were read again once upstream steps had written)`;
}
