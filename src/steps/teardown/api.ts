import type { ApiContract } from "@azure/arm-apimanagement";
import { orMissing } from "../../azure/errors.js";
import { inSync } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { childrenReadable, leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface ApiObserved {
  gateway: GatewayObserved;
  api?: ApiContract;
  operations: string[];
}

/**
 * The API, and with it its operations and every policy on it: first among the instance's
 * children, because its policies name the fragments, the named values and the logger, and APIM
 * refuses to delete what a policy still uses.
 */
export const removeApiStep = defineStep<{ apiId: string }, ApiObserved, { apiId: string }>({
  id: "remove-api",
  title: "API with its operations and policies",
  // After everything bound to the gateway identity: a run stopped by a missing Entra or Dataverse
  // role stops before the gateway itself is touched.
  needs: ["remove-graph-grant", "remove-dataverse-access", "remove-data-sender"],

  desired: ({ config }) => ({ apiId: config.gateway.apiId }),

  async observe(ctx, { apiId }) {
    const gateway = await observeGateway(ctx);
    if (!childrenReadable(gateway)) return { gateway, operations: [] };
    const { resourceGroup, apim } = ctx.config;
    const api = await orMissing(ctx.clients.apim.api.get(resourceGroup, apim.name, apiId));
    const operations: string[] = [];
    if (api) for await (const op of ctx.clients.apim.apiOperation.listByApi(resourceGroup, apim.name, apiId)) if (op.name) operations.push(op.name);
    return { gateway, ...(api ? { api } : {}), operations };
  },

  plan({ apiId }, { gateway, api, operations }) {
    const resource = `apis/${apiId}`;
    if (someoneElses(gateway)) return [leftToItsOwner(resource)];
    if (!api) return [inSync(resource)];
    return [
      {
        action: "delete",
        resource,
        fields: [
          { field: "path", from: api.path, to: null },
          { field: "operations", from: operations, to: null },
        ],
        note: "with its operations, their policies and the API policy",
        apimWrite: true,
        op: { apiId },
      },
    ];
  },

  async apply(ctx, { op }) {
    const { resourceGroup, apim } = ctx.config;
    await ctx.clients.apim.api.beginDeleteAndWait(resourceGroup, apim.name, op.apiId, "*", { deleteRevisions: true, updateIntervalInMs: ctx.pollIntervalMs });
  },

  outputs: () => ({}),
});
