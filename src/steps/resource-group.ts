import type { ResourceGroup } from "@azure/arm-resources";
import { orMissing } from "../azure/errors.js";
import type { Change, Step } from "../engine/types.js";

/** The resource group everything lives in; created when missing, never modified. */
export const resourceGroupStep: Step<ResourceGroup | undefined> = {
  id: "resource-group",
  title: "Resource group",
  needs: [],
  requiredRole: "Contributor on the subscription (Microsoft.Resources/subscriptions/resourceGroups/write)",

  observe(ctx) {
    return orMissing(ctx.arm.resources.resourceGroups.get(ctx.config.resourceGroup));
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
