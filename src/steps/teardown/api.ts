import type { ApiContract } from "@azure/arm-apimanagement";
import { inSync, type Change } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { listShardApis, shardOf } from "../api-shards.js";
import { childrenReadable, leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface ApiObserved {
  gateway: GatewayObserved;
  /** aeg's APIs (the configured one and those its agents spread over), each with its operations. */
  apis: Array<{ apiId: string; api: ApiContract; operations: string[] }>;
}

type Names = { apiId: string; apiPath: string; apiDisplayName: string };

/**
 * aeg's APIs, and with each its operations and every policy on it: first among the instance's
 * children, because their policies name the fragments, the named values and the logger, and APIM
 * refuses to delete what a policy still uses.
 */
export const removeApiStep = defineStep<Names, ApiObserved, { apiId: string }>({
  id: "remove-api",
  title: "API with its operations and policies",
  // After everything bound to the gateway identity: a run stopped by a missing Entra or Dataverse
  // role stops before the gateway itself is touched.
  needs: ["remove-graph-grant", "remove-dataverse-access", "remove-data-sender"],

  desired: ({ config }) => ({ apiId: config.gateway.apiId, apiPath: config.gateway.apiPath, apiDisplayName: config.gateway.apiDisplayName }),

  async observe(ctx) {
    const gateway = await observeGateway(ctx);
    if (!childrenReadable(gateway)) return { gateway, apis: [] };
    const { resourceGroup, apim } = ctx.config;
    const apis = await Promise.all(
      (await listShardApis(ctx.clients.apim, ctx.config)).map(async ({ shard, api }) => {
        const operations: string[] = [];
        for await (const op of ctx.clients.apim.apiOperation.listByApi(resourceGroup, apim.name, shard.apiId)) if (op.name) operations.push(op.name);
        return { apiId: shard.apiId, api, operations };
      }),
    );
    return { gateway, apis };
  },

  plan(names, { gateway, apis }) {
    const first = `apis/${shardOf(names, 1).apiId}`;
    if (someoneElses(gateway)) return [leftToItsOwner(first)];
    if (apis.length === 0) return [inSync(first)];
    return apis.map(
      ({ apiId, api, operations }): Change<{ apiId: string }> => ({
        action: "delete",
        resource: `apis/${apiId}`,
        fields: [
          { field: "path", from: api.path, to: null },
          { field: "operations", from: operations, to: null },
        ],
        note: "with its operations, their policies and the API policy",
        apimWrite: true,
        op: { apiId },
      }),
    );
  },

  async apply(ctx, { op }) {
    const { resourceGroup, apim } = ctx.config;
    await ctx.clients.apim.api.beginDeleteAndWait(resourceGroup, apim.name, op.apiId, "*", { deleteRevisions: true, updateIntervalInMs: ctx.pollIntervalMs });
  },

  outputs: () => ({}),
});
