import type { Change, FieldChange } from "../engine/change.js";
import { blocked } from "../engine/change.js";
import type { PlanInput, RunContext } from "../engine/step.js";
import { ExitCode, UserError } from "../errors.js";

/** Children of the instance can be read only once it has finished provisioning. */
export function apimReady(input: Pick<PlanInput, "outputs">): boolean {
  return input.outputs.apim?.ready === "true";
}

/**
 * The APIM instance's system-assigned identity as a later step sees it while planning: there, on
 * its way (this run creates or updates the instance), or not coming (the apim step is blocked).
 * The one place that answers "the identity is not there yet".
 */
export type GatewayIdentity = { state: "ready"; principalId: string } | { state: "pending" } | { state: "blocked" };

export function gatewayIdentity(input: Pick<PlanInput, "outputs">): GatewayIdentity {
  const apim = input.outputs.apim;
  if (apim?.principalId) return { state: "ready", principalId: apim.principalId };
  return apim?.identity === "blocked" ? { state: "blocked" } : { state: "pending" };
}

/** The principal a grant is for, as the plan shows it: the id, or what it will be once apim has run. */
export function principalField(identity: GatewayIdentity): FieldChange {
  return { field: "principalId", to: identity.state === "ready" ? identity.principalId : "(the APIM identity, once it exists)" };
}

/** A change that needs the identity when the apim step will not provide it. */
export function waitsOnBlockedIdentity(resource: string): Change<never> {
  return blocked(resource, "needs the APIM instance's managed identity, which this run will not create (see step apim)", ExitCode.usage, "Resolve what blocks step apim, then run again.");
}

/** The principal id at apply time; upstream has run, so its absence is a bug, not user error. */
export function principalOf(ctx: RunContext, step: string): string {
  const principalId = ctx.outputs.apim?.principalId;
  if (!principalId) throw new UserError(`${step}: the APIM instance has no system-assigned identity yet`, ExitCode.unexpected, "Re-run aeg setup once step apim has completed.");
  return principalId;
}
