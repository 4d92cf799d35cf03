import type { ResourceGroup } from "@azure/arm-resources";
import { isNotFound } from "../azure/errors.js";
import type { Change, Step } from "../engine/types.js";

/** The resource group everything lives in; created when missing, never modified. */
export const resourceGroupStep: Step<ResourceGroup | undefined> = {
  id: "resource-group",
  title: "Resource group",
  needs: [],
  requiredRole: "Contributor on the subscription (Microsoft.Resources/subscriptions/resourceGroups/write)",

  async observe(ctx) {
    try {
      return await ctx.arm.resources.resourceGroups.get(ctx.config.resourceGroup);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  },

  plan(ctx, group): Change[] {
    const { resourceGroup, location } = ctx.config;
    if (group) return [{ action: "ok", resource: `resourceGroups/${resourceGroup}`, fields: [] }];
    return [
      {
        action: "create",
        resource: `resourceGroups/${resourceGroup}`,
        fields: [{ field: "location", to: location }],
        write: async (c) => {
          await c.arm.resources.resourceGroups.createOrUpdate(resourceGroup, { location, tags: { "managed-by": "aeg" } });
        },
      },
    ];
  },

  outputs(_ctx, group) {
    return { resourceGroupId: group?.id };
  },
};
