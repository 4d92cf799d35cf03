import type { RoleAssignment } from "@azure/arm-authorization";
import { isNotFound, orMissing } from "../../azure/errors.js";
import { inSync, type Change } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { EVENT_HUBS_DATA_SENDER } from "../telemetry.js";
import { leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface SenderObserved {
  gateway: GatewayObserved;
  /** Data Sender assignments of the gateway identity made at the hub itself (not inherited ones). */
  assignments: RoleAssignment[];
}

type UnassignOp = { scope: string; name: string };

const RESOURCE = "roleAssignments/Azure Event Hubs Data Sender";

/**
 * The gateway identity's Data Sender role on the hub, removed while the identity exists: an
 * assignment whose principal is deleted lingers in Azure as "Identity not found".
 */
export const removeDataSenderStep = defineStep<{ hubId: string }, SenderObserved, UnassignOp>({
  id: "remove-data-sender",
  title: "Azure Event Hubs Data Sender assignment of the gateway identity",
  needs: [],

  desired: ({ config }) => ({
    hubId: `/subscriptions/${config.subscriptionId}/resourceGroups/${config.resourceGroup}/providers/Microsoft.EventHub/namespaces/${config.telemetry.namespace}/eventhubs/${config.telemetry.eventHub}`,
  }),

  async observe(ctx, { hubId }) {
    const gateway = await observeGateway(ctx);
    const { resourceGroup, telemetry } = ctx.config;
    const hub = gateway.principalId && !someoneElses(gateway) ? await orMissing(ctx.clients.eventHub.eventHubs.get(resourceGroup, telemetry.namespace, telemetry.eventHub)) : undefined;
    const assignments: RoleAssignment[] = [];
    if (hub) {
      for await (const a of ctx.clients.authorization.roleAssignments.listForScope(hubId, { filter: `principalId eq '${gateway.principalId}'` })) {
        const atHub = a.scope?.toLowerCase() === hubId.toLowerCase();
        if (atHub && a.roleDefinitionId?.toLowerCase().endsWith(`/${EVENT_HUBS_DATA_SENDER}`)) assignments.push(a);
      }
    }
    return { gateway, assignments };
  },

  plan(_desired, { gateway, assignments }) {
    if (someoneElses(gateway)) return [leftToItsOwner(RESOURCE)];
    if (assignments.length === 0) return [inSync(RESOURCE)];
    return assignments.map((a): Change<UnassignOp> => ({
      action: "delete",
      resource: RESOURCE,
      fields: [
        { field: "principalId", from: a.principalId, to: null },
        { field: "scope", from: a.scope, to: null },
      ],
      op: { scope: a.scope!, name: a.name! },
    }));
  },

  async apply(ctx, { op }) {
    try {
      await ctx.clients.authorization.roleAssignments.delete(op.scope, op.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  },

  outputs: () => ({}),
});
