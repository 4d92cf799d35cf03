/**
 * Permissions checked before any write: the ARM actions a plan's changes need (arm-actions.ts),
 * compared with what ARM says the signed-in identity may do at each scope (arm-grants.ts), with
 * ARM's wildcard rules (rbac.ts). `setup` and `apply` refuse a plan with anything missing before
 * their first write; `plan` and `--dry-run` show the same lines without failing.
 */
import type { CloudProfile } from "../azure/cloud.js";
import type { Config } from "../config/schema.js";
import type { StepClients } from "../engine/step.js";
import { PermissionError } from "../errors.js";
import type { RequiredArmAction } from "./arm-actions.js";
import { GrantReader } from "./arm-grants.js";
import { roleGranting } from "./built-in-roles.js";
import { allows } from "./rbac.js";

export { requiredArmActions, type RequiredArmAction } from "./arm-actions.js";

export interface MissingPermission extends RequiredArmAction {
  /** A built-in role that grants the action (the least privileged one aeg knows). */
  grantedBy: string;
}

/** What the check needs; a step's RunContext is one. */
export interface ArmPermissionDeps {
  clients: Pick<StepClients, "authorization" | "credential">;
  cloud: CloudProfile;
  config: Pick<Config, "subscriptionId">;
  signal?: AbortSignal;
}

/**
 * The actions in `needed` the signed-in identity is not granted at their scopes. Reads only: a
 * GET per distinct scope (and per parent of a scope not created yet), concurrently; never a write.
 */
export async function missingArmPermissions(deps: ArmPermissionDeps, needed: readonly RequiredArmAction[]): Promise<MissingPermission[]> {
  if (needed.length === 0) return [];
  const reader = new GrantReader({
    client: deps.clients.authorization,
    credential: deps.clients.credential,
    cloud: deps.cloud,
    subscriptionId: deps.config.subscriptionId,
    signal: deps.signal,
  });
  const scopes = [...new Map(needed.map((n) => [n.scope.toLowerCase(), n.scope])).values()];
  const grants = new Map(await Promise.all(scopes.map(async (scope) => [scope.toLowerCase(), await reader.grantsAt(scope)] as const)));
  return needed.filter((n) => !allows(grants.get(n.scope.toLowerCase()) ?? [], n.action)).map((n) => ({ ...n, grantedBy: roleGranting(n.action).name }));
}

/** One line per missing action and scope, naming the steps that need it and a role that grants it. */
export function missingPermissionLines(missing: readonly MissingPermission[]): string[] {
  const byActionAndScope = new Map<string, { m: MissingPermission; steps: string[] }>();
  for (const m of missing) {
    const key = `${m.action.toLowerCase()}|${m.scope.toLowerCase()}`;
    const entry = byActionAndScope.get(key);
    if (entry) {
      if (!entry.steps.includes(m.step)) entry.steps.push(m.step);
    } else byActionAndScope.set(key, { m, steps: [m.step] });
  }
  return [...byActionAndScope.values()].map(({ m, steps }) => `${steps.join(", ")}: ${m.action} at ${m.scope} (granted by ${m.grantedBy})`);
}

const PIM_HINT =
  "Have the role assigned at that scope or above, or run as an identity that holds it. A role that is only eligible in Privileged Identity Management does not count until it is activated: activate it, then run again.";

/** The refusal (exit 3) of a run whose identity lacks some of the plan's actions. */
export function permissionRefusal(missing: readonly MissingPermission[]): PermissionError {
  const lines = missingPermissionLines(missing);
  const head = `the signed-in identity may not make ${lines.length === 1 ? "one write" : `${lines.length} kinds of write`} this plan needs; nothing was written:`;
  return new PermissionError([head, ...lines.map((l) => `  ${l}`)].join("\n"), PIM_HINT);
}
