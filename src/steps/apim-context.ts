import type { RunContext } from "../engine/types.js";

/** Role needed by every write to the APIM instance and its children. */
export const APIM_ROLE = "API Management Service Contributor (or Contributor) on the resource group";

/** Children of the instance can be read only once it has finished provisioning. */
export function apimReady(ctx: RunContext): boolean {
  return ctx.outputs.apim?.ready === "true";
}

export function serviceName(ctx: RunContext): string {
  return ctx.config.apim.name;
}
