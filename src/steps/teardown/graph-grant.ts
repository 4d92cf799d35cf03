import { isNotFound, orMissing } from "../../azure/errors.js";
import { MICROSOFT_GRAPH_APP_ID, type AppRoleAssignment, type ServicePrincipal } from "../../azure/graph.js";
import { inSync, type Change } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { graphTeardownPreflight } from "../../preflight/identity.js";
import { FALLBACK_PERMISSIONS } from "../graph-grant.js";
import { leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface GrantsObserved {
  gateway: GatewayObserved;
  graph?: ServicePrincipal;
  assignments: AppRoleAssignment[];
}

type RevokeOp = { resourceId: string; assignmentId: string };

const RESOURCE = "appRoleAssignments/Microsoft Graph";

/**
 * First, while the identity still exists: the Microsoft Graph permissions setup granted for the
 * groups-overage fallback. Once the instance is gone they could no longer be found by principal.
 */
export const removeGraphGrantStep = defineStep<Record<string, never>, GrantsObserved, RevokeOp>({
  id: "remove-graph-grant",
  title: "Microsoft Graph permissions of the gateway identity",
  needs: [],

  desired: () => ({}),

  async observe(ctx) {
    const gateway = await observeGateway(ctx);
    if (!gateway.principalId || someoneElses(gateway)) return { gateway, assignments: [] };
    const graph = await ctx.clients.graph.servicePrincipalByAppId(MICROSOFT_GRAPH_APP_ID);
    // A purged identity has no assignments left to list: Entra removed them with it.
    const assignments = (await orMissing(ctx.clients.graph.appRoleAssignments(gateway.principalId))) ?? [];
    return { gateway, graph, assignments };
  },

  plan(_desired, { gateway, graph, assignments }) {
    if (someoneElses(gateway)) return [leftToItsOwner(RESOURCE)];
    const revokes = FALLBACK_PERMISSIONS.flatMap((value): Change<RevokeOp>[] => {
      const roleId = graph?.appRoles?.find((r) => r.value === value)?.id;
      const held = assignments.find((a) => a.resourceId === graph?.id && a.appRoleId === roleId);
      return held ? [{ action: "delete", resource: `${RESOURCE}/${value}`, fields: [{ field: "appRoleId", from: roleId, to: null }], op: { resourceId: held.resourceId, assignmentId: held.id } }] : [];
    });
    return revokes.length > 0 ? revokes : [inSync(RESOURCE)];
  },

  async apply(ctx, { op }) {
    try {
      await ctx.clients.graph.removeAppRoleAssignment(op.resourceId, op.assignmentId);
    } catch (err) {
      if (!isNotFound(err)) throw err; // revoked since the plan was read: what we wanted
    }
  },

  preflight: graphTeardownPreflight,

  outputs: () => ({}),
});
