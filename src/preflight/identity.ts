import { decodeJwt } from "jose";
import { SYSTEM_ADMINISTRATOR_TEMPLATE } from "../azure/dataverse.js";
import { GLOBAL_ADMINISTRATOR, MICROSOFT_GRAPH_APP_ID, PRIVILEGED_ROLE_ADMINISTRATOR } from "../azure/graph.js";
import type { RunContext } from "../engine/step.js";
import { PermissionError } from "../errors.js";

/** Dataverse: the caller must be a System Administrator of the environment to create users and roles. */
export function dataversePreflight(ctx: RunContext): Promise<void> {
  return requireDataverseAdmin(ctx, "dataverse-access", "Step 5 creates an application user and a security role");
}

/** Teardown's Dataverse writes need the same role as setup's. */
export function dataverseTeardownPreflight(ctx: RunContext): Promise<void> {
  return requireDataverseAdmin(ctx, "remove-dataverse-access", "Teardown removes the gateway's role assignment and role and disables its application user");
}

/** Graph: granting a Microsoft Graph application permission needs Privileged Role Administrator (or Global Administrator). */
export function graphPreflight(ctx: RunContext): Promise<void> {
  return requireGraphConsent(ctx, "graph-grant", "Step 8 needs");
}

/** Revoking the grant needs the same role as making it. */
export function graphTeardownPreflight(ctx: RunContext): Promise<void> {
  return requireGraphConsent(ctx, "remove-graph-grant", "Revoking the fallback's Graph permissions needs");
}

async function requireDataverseAdmin(ctx: RunContext, step: string, what: string): Promise<void> {
  const dv = ctx.clients.dataverse;
  const url = dv.environmentUrl;
  const me = await dv.whoAmI();
  const roles = await dv.userRoles(me.UserId);
  const admin = roles.some((r) => r._roletemplateid_value?.toLowerCase() === SYSTEM_ADMINISTRATOR_TEMPLATE || r.name === "System Administrator");
  if (!admin) {
    throw new PermissionError(
      `${step}: the signed-in identity (systemuser ${me.UserId}) is not a System Administrator of ${url}; nothing was written`,
      `${what}: have a Power Platform admin assign the Dataverse System Administrator role, or run as someone who has it.`,
    );
  }
}

/**
 * Granting or revoking a Microsoft Graph application permission needs Privileged Role
 * Administrator (or Global Administrator); an app may instead hold AppRoleAssignment.ReadWrite.All.
 */
async function requireGraphConsent(ctx: RunContext, step: string, what: string): Promise<void> {
  const { graph, credential } = ctx.clients;
  const token = await credential.getToken(`${ctx.cloud.graphAudience}/.default`);
  const claims = token ? decodeJwt(token.token) : {};
  const oid = String(claims["oid"] ?? "");
  const kind = claims["idtyp"] === "app" || (!claims["scp"] && claims["roles"] !== undefined) || (!claims["scp"] && !claims["upn"]) ? "app" : "user";
  const roles = await graph.directoryRoleTemplates(oid, kind);
  if (roles.includes(PRIVILEGED_ROLE_ADMINISTRATOR) || roles.includes(GLOBAL_ADMINISTRATOR)) return;
  if (kind === "app") {
    const graphSp = await graph.servicePrincipalByAppId(MICROSOFT_GRAPH_APP_ID);
    const manage = graphSp.appRoles?.find((r) => r.value === "AppRoleAssignment.ReadWrite.All")?.id;
    const held = await graph.appRoleAssignments(oid);
    if (manage && held.some((a) => a.resourceId === graphSp.id && a.appRoleId === manage)) return;
  }
  throw new PermissionError(
    `${step}: the signed-in identity (${oid}) cannot grant or revoke Microsoft Graph application permissions; nothing was written`,
    `${what} the Entra role Privileged Role Administrator (or Global Administrator): Application Administrator cannot consent to Microsoft Graph app roles.`,
  );
}
