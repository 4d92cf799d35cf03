/**
 * A plan as plain data: what each step found, what it will do, and why. Nothing here holds a
 * function, so a plan survives `JSON.stringify`/`JSON.parse` whole and can be shown, saved and
 * applied later. The action says what; `note` says why; rendering lives in src/render.
 */
import { createHash } from "node:crypto";
import type { ExitCode } from "../errors.js";

export type SetupStepId = "resource-group" | "apim" | "named-values" | "telemetry" | "fragments" | "api" | "retired-agents" | "decision-log" | "dataverse-access" | "graph-grant";
/** Teardown's steps have ids of their own: they share the environment's journal with setup's. */
export type TeardownStepId =
  | "remove-graph-grant"
  | "remove-dataverse-access"
  | "remove-data-sender"
  | "remove-api"
  | "remove-fragments"
  | "remove-named-values"
  | "remove-logger"
  | "remove-apim"
  | "remove-telemetry";
export type StepId = SetupStepId | TeardownStepId;

export type ChangeAction =
  | "create"
  | "update"
  | "delete"
  | "ok"
  /** aeg cannot read enough to decide (a secret it cannot read back, a table another solution owns). */
  | "unverifiable"
  /** Not applicable to this configuration. */
  | "skipped"
  /** aeg will not make this change: a run that meets it stops before its first write. */
  | "blocked";

/** One field that differs; `lines` carries a canonical policy diff instead of from/to. */
export interface FieldChange {
  field: string;
  from?: unknown;
  to?: unknown;
  lines?: string[];
  /** Values are never shown: the field holds a secret. */
  secret?: boolean;
}

/**
 * One resource's difference between desired and live state. `op` is the step's own description
 * of the write (plain data its `apply` turns into a request); it is absent when nothing is written.
 */
export interface Change<Op = unknown> {
  action: ChangeAction;
  /** A short resource path, e.g. `namedValues/aeg-tenant-id`. */
  resource: string;
  fields: FieldChange[];
  /** Why: what it waits on, why it cannot be checked, or (blocked) what is at fault. */
  note?: string;
  /** Blocked only: what to do about it. */
  hint?: string;
  /** Blocked only: the exit code of a run that refuses this change. */
  exitCode?: ExitCode;
  /** A write to the APIM instance: it counts against the bound on concurrent APIM writes. */
  apimWrite?: boolean;
  /**
   * Resources of the same step that must be written before this one (an API before its
   * operations, an operation before its policy). Absent: after every earlier write of the step.
   */
  after?: string[];
  /** Writes with the same key never run at once: APIM's lock on an API and everything under it. */
  lock?: string;
  op?: Op;
  /**
   * What aeg saw of the resource while planning (`seen()`): a saved plan is stale when a fresh
   * read sees something else. Never the entity itself, so never a secret.
   */
  seen?: string;
}

/** What a step tells later ones (ids, principal ids), derived from live state only. */
export interface StepOutputs {
  [key: string]: string | undefined;
}

/** What a plan says about one step. */
export type PlanStatus = "create" | "update" | "delete" | "ok" | "skipped" | "unverifiable" | "blocked";
/** What happened to one step in an apply. */
export type ApplyStatus = "created" | "updated" | "deleted" | "ok" | "skipped" | "failed";

/** One step in a plan or an apply report. A plan's entries carry the outputs apply starts from. */
export interface StepReport {
  id: StepId;
  title: string;
  status: PlanStatus | ApplyStatus;
  changes: Change[];
  outputs?: StepOutputs;
  error?: string;
}

/** Writes: the changes apply carries out. */
export function pending(changes: Change[]): Change[] {
  return changes.filter((c) => c.action === "create" || c.action === "update" || c.action === "delete");
}

/** The writes an apply carried out: those of the steps it reports as created, updated or deleted. */
export function appliedWrites(reports: StepReport[]): Change[] {
  return reports.filter((r) => r.status === "created" || r.status === "updated" || r.status === "deleted").flatMap((r) => pending(r.changes));
}

export function blockedChanges(reports: StepReport[]): Change[] {
  return reports.flatMap((r) => r.changes.filter((c) => c.action === "blocked"));
}

// ---- the few shapes every step uses ----

export function inSync(resource: string, observed?: unknown): Change<never> {
  return { action: "ok", resource, fields: [], ...(observed !== undefined ? { seen: seen(observed) } : {}) };
}

/** The one way to say "not applicable here". */
export function skipped(resource: string, why: string): Change<never> {
  return { action: "skipped", resource, fields: [], note: why };
}

/** A change aeg refuses to make, known while planning: `why` names the field at fault. */
export function blocked(resource: string, why: string, exitCode: ExitCode, hint: string, fields: FieldChange[] = []): Change<never> {
  return { action: "blocked", resource, fields, note: why, hint, exitCode };
}

/** Adds a write's order (`after`, `lock`: see scheduler.ts); a change that writes nothing stays as it is. */
export function ordered<C extends Change>(change: C, order: { after: string[]; lock?: string }): C {
  if (change.action !== "create" && change.action !== "update" && change.action !== "delete") return change;
  return { ...change, after: order.after, ...(order.lock !== undefined ? { lock: order.lock } : {}) };
}

/**
 * A fingerprint of what was observed of one resource: its ETag where the API gives one, else the
 * SHA-256 of its fields (keys sorted, so the same entity always gives the same digest). `absent`
 * when there was nothing.
 */
export function seen(entity: unknown): string {
  if (entity === undefined || entity === null) return "absent";
  const etag = typeof entity === "object" ? ((entity as { etag?: unknown; eTag?: unknown }).etag ?? (entity as { eTag?: unknown }).eTag) : undefined;
  if (typeof etag === "string" && etag) return `etag:${etag}`;
  return `sha256:${createHash("sha256").update(stableJson(entity)).digest("hex")}`;
}

/** JSON with object keys sorted: equal values, equal text. Maps and Dates as JSON knows them. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Map) return Object.fromEntries(v);
    if (v && typeof v === "object" && !Array.isArray(v)) return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return v;
  });
}
