import type { ResourceGroup } from "@azure/arm-resources";
import { orMissing } from "../azure/errors.js";
import { inSync, seen } from "../engine/change.js";
import { defineStep } from "../engine/step.js";
import { AEG_RESOURCE_TAGS } from "./ownership.js";

interface DesiredGroup {
  name: string;
  body: { location: string; tags: Record<string, string> };
}

/** The resource group everything lives in; created when missing, never modified. */
export const resourceGroupStep = defineStep<DesiredGroup, ResourceGroup | undefined, DesiredGroup>({
  id: "resource-group",
  title: "Resource group",
  needs: [],

  desired: ({ config }) => ({ name: config.resourceGroup, body: { location: config.location, tags: { ...AEG_RESOURCE_TAGS } } }),

  observe: (ctx, desired) => orMissing(ctx.clients.resources.resourceGroups.get(desired.name)),

  plan(desired, group) {
    const resource = `resourceGroups/${desired.name}`;
    if (group) return [inSync(resource, group)];
    return [{ action: "create", resource, fields: [{ field: "location", to: desired.body.location }], op: desired, seen: seen(group) }];
  },

  async apply(ctx, { op }) {
    await ctx.clients.resources.resourceGroups.createOrUpdate(op.name, op.body);
  },

  outputs: (_desired, group) => ({ resourceGroupId: group?.id }),
});
