import { MICROSOFT_GRAPH_APP_ID, type AppRoleAssignment, type ServicePrincipal } from "../azure/graph.js";
import type { Change, RunContext, Step } from "../engine/types.js";
import { azureCode, statusOf } from "../azure/errors.js";
import { graphPreflight, services } from "./identity-preflight.js";

/**
 * What `POST /v1.0/users/{oid}/checkMemberGroups` needs as application permissions. Microsoft's
 * permission table for that call lists "User.Read.All and GroupMember.Read.All" as the least
 * privileged pair; GroupMember.Read.All alone covers only /directoryObjects/{id}/…, so a gateway
 * with just that role would get 403 Authorization_RequestDenied on the fallback the policy sends.
 */
export const FALLBACK_PERMISSIONS = ["GroupMember.Read.All", "User.Read.All"] as const;

export interface GraphGrantObserved {
  graph?: ServicePrincipal;
  assignments: AppRoleAssignment[];
}

const PROPAGATION = "Entra may take hours to honour a new grant (managed-identity tokens are cached for up to 24 h)";

/** Seed step 8: Graph application permissions for the groups-overage fallback, only when it is on. */
export const graphGrantStep: Step<GraphGrantObserved> = {
  id: "graph-grant",
  title: "Microsoft Graph permission for the groups-overage fallback",
  needs: ["apim"],
  requiredRole: "Privileged Role Administrator (or Global Administrator) in Entra ID",

  async observe(ctx) {
    const principalId = ctx.outputs.apim?.principalId;
    const { graph } = services(ctx);
    const graphSp = await graph.servicePrincipalByAppId(MICROSOFT_GRAPH_APP_ID);
    return { graph: graphSp, assignments: principalId ? await graph.appRoleAssignments(principalId) : [] };
  },

  plan(ctx, observed): Change[] {
    const enabled = ctx.config.graphFallback.enabled;
    const roles = FALLBACK_PERMISSIONS.map((value) => ({ value, id: appRoleId(observed.graph, value) }));
    const held = (id: string) => observed.assignments.find((a) => a.resourceId === observed.graph?.id && a.appRoleId === id);
    if (!enabled) {
      const excess: Change[] = roles.flatMap((r) => {
        const a = held(r.id);
        return a ? [{ action: "delete" as const, resource: `appRoleAssignments/Microsoft Graph/${r.value}`, fields: [{ field: "appRoleId", from: r.id, to: null }], note: "excess privilege: graphFallback.enabled is false", write: (c: RunContext) => services(c).graph.removeAppRoleAssignment(a.resourceId, a.id) }] : [];
      });
      return excess.length > 0 ? excess : [{ action: "skipped", resource: "appRoleAssignments/Microsoft Graph", fields: [], note: "fallback off" }];
    }
    return roles.map((r): Change => {
      const resource = `appRoleAssignments/Microsoft Graph/${r.value}`;
      if (held(r.id)) return { action: "ok", resource, fields: [] };
      return {
        action: "create",
        resource,
        fields: [
          { field: "principalId", to: ctx.outputs.apim?.principalId ?? "(the APIM identity, once it exists)" },
          { field: "appRoleId", to: r.id },
        ],
        note: PROPAGATION,
        write: (c) => grant(c, observed.graph!.id, r.id),
      };
    });
  },

  preflight: (ctx) => graphPreflight(ctx),

  outputs(ctx, { assignments, graph }) {
    const granted = FALLBACK_PERMISSIONS.filter((v) => assignments.some((a) => a.resourceId === graph?.id && a.appRoleId === appRoleId(graph, v)));
    return { graphPermissions: ctx.config.graphFallback.enabled ? granted.join(",") : undefined };
  },
};

/** The app-role id by its value, from Graph's own service principal (never a hard-coded GUID). */
function appRoleId(graph: ServicePrincipal | undefined, value: string): string {
  const role = graph?.appRoles?.find((r) => r.value === value && r.allowedMemberTypes.includes("Application"));
  if (!role) throw new Error(`graph-grant: Microsoft Graph has no application permission '${value}' in this tenant`);
  return role.id;
}

async function grant(ctx: RunContext, graphSpId: string, roleId: string): Promise<void> {
  const principalId = ctx.outputs.apim?.principalId;
  if (!principalId) throw new Error("graph-grant: the APIM instance has no system-assigned identity yet; re-run once step apim has completed");
  try {
    await services(ctx).graph.assignAppRole(graphSpId, principalId, roleId);
  } catch (err) {
    // A grant made since the plan was read (or by a concurrent run) is what we wanted.
    if (statusOf(err) === 400 && azureCode(err) === "Request_BadRequest" && /already exists/i.test((err as Error).message)) return;
    throw err;
  }
}
