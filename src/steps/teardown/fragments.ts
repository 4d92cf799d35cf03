import { orMissing } from "../../azure/errors.js";
import { blocked, inSync, type Change } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { ExitCode } from "../../errors.js";
import type { Config } from "../../config/schema.js";
import { FRAGMENT_IDS } from "../../policy/templates.js";
import { shardIndexOf } from "../api-shards.js";
import { childrenReadable, leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface FragmentsObserved {
  gateway: GatewayObserved;
  /** Each fragment that exists, with the policies that still include it outside aeg's API. */
  found: Array<{ id: string; usedBy: string[] }>;
}

/** aeg's two policy fragments. One still included by a policy aeg does not remove blocks the run. */
export const removeFragmentsStep = defineStep<Config["gateway"], FragmentsObserved, { id: string }>({
  id: "remove-fragments",
  title: "Policy fragments",
  needs: ["remove-api"],

  desired: ({ config }) => config.gateway,

  async observe(ctx, gatewayNames) {
    const gateway = await observeGateway(ctx);
    if (!childrenReadable(gateway)) return { gateway, found: [] };
    const { resourceGroup, apim } = ctx.config;
    const client = ctx.clients.apim.policyFragment;
    // References from aeg's own APIs go with them (remove-api runs first).
    const ours = (ref: string) => {
      const api = /\/apis\/([^/]+)\//i.exec(ref)?.[1];
      return api !== undefined && shardIndexOf(gatewayNames, decodeURIComponent(api)) !== undefined;
    };
    const found = await Promise.all(
      FRAGMENT_IDS.map(async (id) => {
        if (!(await orMissing(client.get(resourceGroup, apim.name, id)))) return undefined;
        const refs = await client.listReferences(resourceGroup, apim.name, id);
        const usedBy = (refs.value ?? []).map((r) => r.id ?? "").filter((ref) => !ours(ref));
        return { id, usedBy };
      }),
    );
    return { gateway, found: found.flatMap((f) => (f ? [f] : [])) };
  },

  plan(_desired, { gateway, found }) {
    if (someoneElses(gateway)) return FRAGMENT_IDS.map((id) => leftToItsOwner(`policyFragments/${id}`));
    return FRAGMENT_IDS.map((id): Change<{ id: string }> => {
      const resource = `policyFragments/${id}`;
      const fragment = found.find((f) => f.id === id);
      if (!fragment) return inSync(resource);
      if (fragment.usedBy.length > 0) {
        return blocked(resource, `still included by ${fragment.usedBy.map(shortRef).join(", ")}, which aeg did not make`, ExitCode.usage, "Remove the include-fragment from those policies (or the policies), then run aeg teardown again.");
      }
      return { action: "delete", resource, fields: [], apimWrite: true, op: { id } };
    });
  },

  async apply(ctx, { op }) {
    await ctx.clients.apim.policyFragment.delete(ctx.config.resourceGroup, ctx.config.apim.name, op.id, "*");
  },

  outputs: () => ({}),
});

/** `…/apis/x/operations/y/policies/policy` → `apis/x/operations/y`. */
function shortRef(id: string): string {
  return id.replace(/^.*\/service\/[^/]+\//i, "").replace(/\/policies\/policy$/i, "");
}
