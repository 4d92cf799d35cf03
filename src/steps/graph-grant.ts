import { azureCode, statusOf } from "../azure/errors.js";
import { MICROSOFT_GRAPH_APP_ID, type AppRoleAssignment, type ServicePrincipal } from "../azure/graph.js";
import { blocked, inSync, seen, skipped, type Change } from "../engine/change.js";
import { defineStep, type RunContext } from "../engine/step.js";
import { ExitCode } from "../errors.js";
import { graphPreflight } from "../preflight/identity.js";
import { gatewayIdentity, principalField, principalOf, waitsOnBlockedIdentity, type GatewayIdentity } from "./apim-state.js";

/**
 * What `POST /v1.0/users/{oid}/checkMemberGroups` needs as application permissions. Microsoft's
 * permission table for that call lists "User.Read.All and GroupMember.Read.All" as the least
 * privileged pair; GroupMember.Read.All alone covers only /directoryObjects/{id}/…, so a gateway
 * with just that role would get 403 Authorization_RequestDenied on the fallback the policy sends.
 */
export const FALLBACK_PERMISSIONS = ["GroupMember.Read.All", "User.Read.All"] as const;

interface DesiredGrant {
  enabled: boolean;
  identity: GatewayIdentity;
}

interface GraphGrantObserved {
  graph?: ServicePrincipal;
  assignments: AppRoleAssignment[];
}

type GrantOp = { kind: "grant"; graphServicePrincipalId: string; appRoleId: string } | { kind: "revoke"; resourceId: string; assignmentId: string };

const PROPAGATION = "Entra may take hours to honour a new grant (managed-identity tokens are cached for up to 24 h)";

/** Seed step 8: Graph application permissions for the groups-overage fallback, only when it is on. */
export const graphGrantStep = defineStep<DesiredGrant, GraphGrantObserved, GrantOp>({
  id: "graph-grant",
  title: "Microsoft Graph permission for the groups-overage fallback",
  needs: ["apim"],

  desired: (input) => ({ enabled: input.config.graphFallback.enabled, identity: gatewayIdentity(input) }),

  async observe(ctx, desired) {
    const { graph } = ctx.clients;
    const graphSp = await graph.servicePrincipalByAppId(MICROSOFT_GRAPH_APP_ID);
    return { graph: graphSp, assignments: desired.identity.state === "ready" ? await graph.appRoleAssignments(desired.identity.principalId) : [] };
  },

  plan(desired, observed) {
    return grantChanges(desired, observed).map((c) => ({ ...c, seen: seen(observed.assignments.filter((a) => a.resourceId === observed.graph?.id)) }));
  },

  async apply(ctx, { op }) {
    if (op.kind === "revoke") return ctx.clients.graph.removeAppRoleAssignment(op.resourceId, op.assignmentId);
    return grant(ctx, op.graphServicePrincipalId, op.appRoleId);
  },

  preflight: graphPreflight,

  outputs(desired, { assignments, graph }) {
    const granted = FALLBACK_PERMISSIONS.filter((v) => assignments.some((a) => a.resourceId === graph?.id && a.appRoleId === appRoleId(graph, v)));
    return { graphPermissions: desired.enabled ? granted.join(",") : undefined };
  },
});

function grantChanges(desired: DesiredGrant, observed: GraphGrantObserved): Change<GrantOp>[] {
  const roles = FALLBACK_PERMISSIONS.map((value) => ({ value, id: appRoleId(observed.graph, value) }));
  const missing = roles.find((r) => !r.id);
  if (missing) {
    return [blocked(`appRoleAssignments/Microsoft Graph/${missing.value}`, `Microsoft Graph has no application permission '${missing.value}' in this tenant`, ExitCode.unexpected, "Check that the tenant's Microsoft Graph service principal is intact; report this if it persists.")];
  }
  const held = (id: string) => observed.assignments.find((a) => a.resourceId === observed.graph?.id && a.appRoleId === id);
  if (!desired.enabled) {
    const excess = roles.flatMap((r): Change<GrantOp>[] => {
      const a = held(r.id!);
      return a ? [{ action: "delete", resource: `appRoleAssignments/Microsoft Graph/${r.value}`, fields: [{ field: "appRoleId", from: r.id, to: null }], note: "excess privilege: graphFallback.enabled is false", op: { kind: "revoke", resourceId: a.resourceId, assignmentId: a.id } }] : [];
    });
    return excess.length > 0 ? excess : [skipped("appRoleAssignments/Microsoft Graph", "fallback off")];
  }
  return roles.map((r): Change<GrantOp> => {
    const resource = `appRoleAssignments/Microsoft Graph/${r.value}`;
    if (desired.identity.state === "blocked") return waitsOnBlockedIdentity(resource);
    if (held(r.id!)) return inSync(resource);
    return {
      action: "create",
      resource,
      fields: [
        principalField(desired.identity),
        { field: "appRoleId", to: r.id },
      ],
      note: PROPAGATION,
      op: { kind: "grant", graphServicePrincipalId: observed.graph!.id, appRoleId: r.id! },
    };
  });
}

/** The app-role id by its value, from Graph's own service principal (never a hard-coded GUID). */
function appRoleId(graph: ServicePrincipal | undefined, value: string): string | undefined {
  return graph?.appRoles?.find((r) => r.value === value && r.allowedMemberTypes.includes("Application"))?.id;
}

async function grant(ctx: RunContext, graphSpId: string, roleId: string): Promise<void> {
  try {
    await ctx.clients.graph.assignAppRole(graphSpId, principalOf(ctx, "graph-grant"), roleId);
  } catch (err) {
    // A grant made since the plan was read (or by a concurrent run) is what we wanted.
    if (statusOf(err) === 400 && azureCode(err) === "Request_BadRequest" && /already exists/i.test((err as Error).message)) return;
    throw err;
  }
}
