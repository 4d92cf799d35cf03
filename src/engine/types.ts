import type { Config } from "../config/schema.js";
import type { ArmClients } from "../azure/arm.js";
import type { CloudProfile } from "../azure/cloud.js";
import type { Journal } from "./journal.js";
import type { IdentityServices } from "../azure/identity-services.js";

export type StepId = "resource-group" | "apim" | "named-values" | "telemetry" | "fragments" | "api" | "retired-agents" | "decision-log" | "dataverse-access" | "graph-grant";

/** What a plan says about one step. */
export type PlanStatus = "create" | "update" | "delete" | "ok" | "skipped" | "unverifiable";
/** What happened to one step in an apply. */
export type ApplyStatus = "created" | "updated" | "deleted" | "ok" | "skipped" | "failed";

/** One field that differs; `lines` carries a canonical policy diff instead of from/to. */
export interface FieldChange {
  field: string;
  from?: unknown;
  to?: unknown;
  lines?: string[];
  /** Values are never shown: the field holds a secret. */
  secret?: boolean;
}

export type ChangeAction = "create" | "update" | "delete" | "ok" | "unverifiable" | "skipped";

/** One resource's difference between desired and live state, and how to close it. */
export interface Change {
  action: ChangeAction;
  /** A short resource path, e.g. `namedValues/aeg-tenant-id`. */
  resource: string;
  fields: FieldChange[];
  /** Why the change cannot be checked or what it waits on. */
  note?: string;
  /** Writes to the APIM instance are serialized: APIM answers concurrent writes with 409. */
  apimWrite?: boolean;
  /** The write that makes live state match; absent for ok/unverifiable. Plans build it, apply runs it. */
  write?: (ctx: RunContext) => Promise<void>;
}

export interface StepOutputs {
  [key: string]: string | undefined;
}

export interface RunContext {
  config: Config;
  cloud: CloudProfile;
  arm: ArmClients;
  /** Dataverse and Graph clients (steps 5 and 8, the agent precondition). */
  identity?: IdentityServices;
  /** Outputs of the steps this one needs (principal id, resource ids…), from live reads. */
  outputs: Readonly<Record<string, StepOutputs>>;
  journal: Journal;
  /** Progress text for long operations (elapsed time, provisioning state). */
  progress(message: string): void;
  /** Poll interval for long-running operations (ms). */
  pollIntervalMs: number;
  signal: AbortSignal;
  options: RunOptions;
}

export interface RunOptions {
  recoverSoftDeleted: boolean;
  purgeSoftDeleted: boolean;
}

/**
 * A setup step: observe live state, plan the difference (pure), apply it, and observe again.
 * `observe` must tolerate missing parents (a fresh tenant) and return "nothing there".
 */
export interface Step<Observed = unknown> {
  id: StepId;
  title: string;
  needs: StepId[];
  /** The Azure role this step's writes need, named in permission errors. */
  requiredRole: string;
  observe(ctx: RunContext): Promise<Observed>;
  plan(ctx: RunContext, observed: Observed): Change[];
  /**
   * Checks, before any write of the run, that the caller may make this step's writes; throws a
   * PermissionError naming the missing role. Runs only when the step has changes to apply.
   */
  preflight?(ctx: RunContext): Promise<void>;
  /** What later steps may use (ids, principal ids). Derived from live state only. */
  outputs(ctx: RunContext, observed: Observed): StepOutputs;
}

export interface StepReport {
  id: StepId;
  title: string;
  status: PlanStatus | ApplyStatus;
  changes: Change[];
  error?: string;
}
