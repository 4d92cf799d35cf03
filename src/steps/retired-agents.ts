import type { NamedValueContract } from "@azure/arm-apimanagement";
import { seen } from "../engine/change.js";
import { defineStep } from "../engine/step.js";
import { AEG_NAMED_VALUES, desiredNamedValues } from "../policy/named-values.js";
import { apimReady } from "./apim-state.js";

interface DesiredRetirement {
  ready: boolean;
  /** Every named value the configuration asks for; per-agent values outside it are retired. */
  wanted: string[];
}

/**
 * Per-agent named values of agents no longer configured. They go after the API step has deleted
 * those agents' operations: APIM refuses to delete a named value a policy still references.
 */
export const retiredAgentsStep = defineStep<DesiredRetirement, NamedValueContract[], { id: string }>({
  id: "retired-agents",
  title: "Named values of agents no longer configured",
  needs: ["api"],

  desired: (input) => ({ ready: apimReady(input), wanted: desiredNamedValues(input.config, input.cloud).map((nv) => nv.id) }),

  async observe(ctx, desired) {
    if (!desired.ready) return [];
    const found: NamedValueContract[] = [];
    for await (const nv of ctx.clients.apim.namedValue.listByService(ctx.config.resourceGroup, ctx.config.apim.name)) {
      if (nv.name && AEG_NAMED_VALUES.perAgentPrefixes.some((p) => nv.name!.startsWith(p))) found.push(nv);
    }
    return found;
  },

  plan(desired, perAgent) {
    const wanted = new Set(desired.wanted);
    return perAgent
      .filter((nv) => !wanted.has(nv.name!))
      .map((nv) => ({
        action: "delete",
        resource: `namedValues/${nv.name}`,
        fields: [{ field: "value", from: nv.value, to: null }],
        note: "its agent is no longer in the configuration",
        apimWrite: true,
        after: [],
        op: { id: nv.name! },
        seen: seen(nv),
      }));
  },

  async apply(ctx, { op }) {
    await ctx.clients.apim.namedValue.delete(ctx.config.resourceGroup, ctx.config.apim.name, op.id, "*");
  },

  outputs: () => ({}),
});
