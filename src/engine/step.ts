import type { TokenCredential } from "@azure/core-auth";
import type { ApiManagementClient } from "@azure/arm-apimanagement";
import type { AuthorizationManagementClient } from "@azure/arm-authorization";
import type { EventHubManagementClient } from "@azure/arm-eventhub";
import type { ResourceManagementClient } from "@azure/arm-resources";
import type { CloudProfile } from "../azure/cloud.js";
import type { DataverseClient } from "../azure/dataverse.js";
import type { GraphClient } from "../azure/graph.js";
import type { Config } from "../config/schema.js";
import type { TemplateSet } from "../policy/templates.js";
import type { Change, StepId, StepOutputs } from "./change.js";
import type { Journal } from "./journal.js";

export interface RunOptions {
  recoverSoftDeleted: boolean;
  /** Purge a soft-deleted APIM service of the configured name: before creating it (setup), after deleting it (teardown --purge). */
  purgeSoftDeleted: boolean;
}

/** Everything a step's pure `desired` may look at. */
export interface PlanInput {
  config: Config;
  cloud: CloudProfile;
  templates: TemplateSet;
  /** Outputs of earlier steps (principal id, resource ids…), from live reads. */
  outputs: Readonly<Partial<Record<StepId, StepOutputs>>>;
  options: RunOptions;
}

/** The clients steps talk to: one accessor, `ctx.clients.<service>`. */
export interface StepClients {
  credential: TokenCredential;
  apim: ApiManagementClient;
  eventHub: EventHubManagementClient;
  authorization: AuthorizationManagementClient;
  resources: ResourceManagementClient;
  graph: GraphClient;
  /** The governance-store environment (`dataverse.url`). */
  dataverse: DataverseClient;
}

/** What `observe`, `apply` and `preflight` get: the plan input plus I/O. */
export interface RunContext extends PlanInput {
  clients: StepClients;
  journal: Journal;
  /** Progress text for long operations (elapsed time, provisioning state). */
  progress(message: string): void;
  /** Poll interval for long-running operations (ms). */
  pollIntervalMs: number;
  signal: AbortSignal;
}

/**
 * One setup or teardown step. `desired` and `plan` are pure; `observe` only reads (and must answer "nothing
 * there" on a fresh tenant); `apply` turns one planned change, plain data, into its request.
 */
export interface StepDefinition<Desired, Observed, Op> {
  id: StepId;
  title: string;
  needs: StepId[];
  desired(input: PlanInput): Desired;
  observe(ctx: RunContext, desired: Desired): Promise<Observed>;
  plan(desired: Desired, observed: Observed): Change<Op>[];
  apply(ctx: RunContext, change: Write<Op>): Promise<void>;
  /** What later steps may use. Derived from live state (and what this step was asked for). */
  outputs(desired: Desired, observed: Observed): StepOutputs;
  /**
   * Checks, before any write of the run, that the caller may make this step's writes; throws a
   * PermissionError naming what is missing. Runs only when the step has changes to apply.
   */
  preflight?(ctx: RunContext): Promise<void>;
}

/** A change apply carries out: it always says what to send. */
export type Write<Op> = Change<Op> & { op: Op };

/** A step as the engine holds it: its types are its own business. */
export type Step = StepDefinition<unknown, unknown, unknown>;

/** Types a step against its own Desired/Observed/Op and hands it to the engine as a `Step`. */
export function defineStep<Desired, Observed, Op>(definition: StepDefinition<Desired, Observed, Op>): Step {
  // Sound in practice: the engine passes each step only values that step itself produced.
  return definition as unknown as Step;
}
