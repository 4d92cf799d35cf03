import type { StepReport } from "../engine/change.js";
import { publicChange } from "../engine/plan.js";

/**
 * The one JSON document `--json` prints on stdout, for every command, on success and on failure:
 * `schemaVersion`, `command`, `status`, `exitCode`, then the command's own fields. Versioned:
 * fields are only ever added.
 */
export interface Envelope {
  schemaVersion: 1;
  command: string;
  status: string;
  exitCode: number;
  [field: string]: unknown;
}

export function envelope(command: string, result: object & { status: string; exitCode: number }): Envelope {
  const { status, exitCode, ...rest } = result;
  return { schemaVersion: 1, command, status, exitCode, ...rest };
}

/** Steps as `--json` shows them: never a write's payload, never a secret value. */
export function publicSteps(reports: StepReport[]): Array<{ id: string; title: string; status: string; changes: Record<string, unknown>[]; error?: string }> {
  return reports.map((s) => ({ id: s.id, title: s.title, status: s.status, changes: s.changes.map(publicChange), ...(s.error ? { error: s.error } : {}) }));
}
