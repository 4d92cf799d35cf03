import type { NamedValueContract } from "@azure/arm-apimanagement";
import type { Change, Step } from "../engine/types.js";
import { AEG_NAMED_VALUES } from "../policy/named-values.js";
import { APIM_ROLE, apimReady, serviceName } from "./apim-context.js";
import { desiredNamedValues } from "./named-values.js";

/**
 * Per-agent named values of agents no longer configured. They go after the API step has deleted
 * those agents' operations: APIM refuses to delete a named value a policy still references.
 */
export const retiredAgentsStep: Step<NamedValueContract[]> = {
  id: "retired-agents",
  title: "Named values of agents no longer configured",
  needs: ["api"],
  requiredRole: APIM_ROLE,

  async observe(ctx) {
    if (!apimReady(ctx)) return [];
    const found: NamedValueContract[] = [];
    for await (const nv of ctx.arm.apim.namedValue.listByService(ctx.config.resourceGroup, serviceName(ctx))) {
      if (nv.name && AEG_NAMED_VALUES.perAgentPrefixes.some((p) => nv.name!.startsWith(p))) found.push(nv);
    }
    return found;
  },

  plan(ctx, perAgent): Change[] {
    const wanted = new Set(desiredNamedValues(ctx.config, ctx.cloud).map((nv) => nv.id));
    const retired = perAgent.filter((nv) => !wanted.has(nv.name!));
    if (retired.length === 0) return [];
    return retired.map((nv) => ({
      action: "delete",
      resource: `namedValues/${nv.name}`,
      fields: [{ field: "value", from: nv.value, to: null }],
      note: "its agent is no longer in the configuration",
      apimWrite: true,
      write: async (c) => {
        await c.arm.apim.namedValue.delete(c.config.resourceGroup, serviceName(c), nv.name!, "*");
      },
    }));
  },

  outputs() {
    return {};
  },
};
