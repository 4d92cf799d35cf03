import type { NamedValueContract } from "@azure/arm-apimanagement";
import { inSync } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { AEG_NAMED_VALUE_TAG } from "../ownership.js";
import { childrenReadable, leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface NamedValuesObserved {
  gateway: GatewayObserved;
  tagged: NamedValueContract[];
}

/** Every named value carrying aeg's tag (retired agents' too), once no fragment or policy names them. */
export const removeNamedValuesStep = defineStep<Record<string, never>, NamedValuesObserved, { id: string }>({
  id: "remove-named-values",
  title: "Named values",
  needs: ["remove-fragments"],

  desired: () => ({}),

  async observe(ctx) {
    const gateway = await observeGateway(ctx);
    const tagged: NamedValueContract[] = [];
    if (!childrenReadable(gateway)) return { gateway, tagged };
    for await (const nv of ctx.clients.apim.namedValue.listByService(ctx.config.resourceGroup, ctx.config.apim.name)) {
      if (nv.name && nv.tags?.includes(AEG_NAMED_VALUE_TAG)) tagged.push(nv);
    }
    return { gateway, tagged };
  },

  plan(_desired, { gateway, tagged }) {
    if (someoneElses(gateway)) return [leftToItsOwner("namedValues")];
    if (tagged.length === 0) return [inSync("namedValues")];
    return tagged.map((nv) => ({ action: "delete", resource: `namedValues/${nv.name}`, fields: [], apimWrite: true, op: { id: nv.name! } }));
  },

  async apply(ctx, { op }) {
    await ctx.clients.apim.namedValue.delete(ctx.config.resourceGroup, ctx.config.apim.name, op.id, "*");
  },

  outputs: () => ({}),
});
