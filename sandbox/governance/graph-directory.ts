// The Microsoft Graph stand-in for the directory (graph listener): service principals (apps,
// managed identities and Microsoft Graph itself), app-role assignments in both directions, and the
// caller's directory roles. Assigning needs Privileged Role Administrator (or Global Administrator,
// or AppRoleAssignment.ReadWrite.All): consent to Graph app roles is theirs alone.
import { randomBytes } from "node:crypto";
import { json, type Reply, type Req, type Router } from "../http.js";
import type { EntraContext, TokenClaims } from "../entra.js";
import type { PrincipalRecord, TenantState } from "../store.js";
import { checkBearer } from "./auth.js";
import type { ListenerFaults } from "./faults.js";
import { graphAudienceOk, graphError } from "./graph.js";
import {
  DIRECTORY_ROLES,
  GRAPH_APP_ID,
  GRAPH_APP_ROLES,
  canAssignAppRoles,
  graphDirectory,
  heldGraphRoles,
  type AppRoleAssignmentRecord,
} from "./graph-directory-state.js";
import type { IdentityCounters } from "./dataverse-identity.js";

const CONTEXT = "https://graph.microsoft.com/v1.0/$metadata";
const ROLE_ID = (value: string) => GRAPH_APP_ROLES.find((r) => r.value === value)!.id;

interface ServicePrincipal {
  id: string;
  appId: string;
  displayName: string;
  servicePrincipalType: "Application" | "ManagedIdentity";
  alternativeNames: string[];
  accountEnabled: boolean;
  appRoles: unknown[];
}

export function registerGraphDirectory(router: Router<unknown>, entra: EntraContext, faults: ListenerFaults, counters: IdentityCounters): void {
  const serve = (h: (req: Req, caller: TokenClaims) => Reply) => async (req: Req): Promise<Reply> => {
    const fault = await faults.apply(req);
    if (fault) return fault;
    const auth = await checkBearer(entra, req, (aud) => graphAudienceOk(aud, req.base));
    if (!auth.ok) return graphError(req, 401, "InvalidAuthenticationToken", auth.why === "missing" ? "Access token is empty." : "Access token validation failure.");
    if (req.method === "GET") counters.reads++;
    else counters.writes++;
    return h(req, auth.claims);
  };
  const state = entra.state;
  router.add("GET", "/_sandbox/identity/requests", () => json(200, counters));
  router.add("POST", "/_sandbox/identity/requests/reset", () => {
    counters.reads = 0;
    counters.writes = 0;
    return json(200, counters);
  });
  router.add("GET", "/v1.0/servicePrincipals", serve((req) => listServicePrincipals(req, state)));
  router.add("GET", "/v1.0/{key}", serve((req) => withPrincipal(req, state, req.params["key"]!, (sp) => entity(req, sp))), undefined, (p) => /\/servicePrincipals\(/i.test(p));
  router.add("GET", "/v1.0/servicePrincipals/{id}", serve((req) => withPrincipal(req, state, req.params["id"]!, (sp) => entity(req, sp))));
  for (const direction of ["appRoleAssignments", "appRoleAssignedTo"] as const) {
    router.add("GET", `/v1.0/servicePrincipals/{id}/${direction}`, serve((req) => withPrincipal(req, state, req.params["id"]!, (sp) => listAssignments(state, sp, direction))));
    router.add("POST", `/v1.0/servicePrincipals/{id}/${direction}`, serve((req, caller) => withPrincipal(req, state, req.params["id"]!, (sp) => assign(req, state, caller, sp, direction))));
    router.add("DELETE", `/v1.0/servicePrincipals/{id}/${direction}/{assignment}`, serve((req, caller) => withPrincipal(req, state, req.params["id"]!, (sp) => unassign(req, state, caller, sp))));
  }
  router.add("GET", "/v1.0/servicePrincipals/{id}/transitiveMemberOf/microsoft.graph.directoryRole", serve((req) => withPrincipal(req, state, req.params["id"]!, (sp) => directoryRolesOf(state, sp.id))));
  router.add("GET", "/v1.0/users/{id}/transitiveMemberOf/microsoft.graph.directoryRole", serve(() => json(200, { "@odata.context": `${CONTEXT}#directoryRoles`, value: [] })));
}

/**
 * May this caller ask Graph about a user's groups? The documented least-privileged application
 * permissions: User.Read.All (or Directory.Read.All) and GroupMember.Read.All (or Group.Read.All
 * or Directory.Read.All) for /users/…; the group half alone for /directoryObjects/….
 */
export function authorizeCheckMemberGroups(entra: EntraContext, req: Req, claims: TokenClaims): Reply | undefined {
  const held = new Set(heldGraphRoles(entra.state, String(claims.oid)));
  const any = (...values: string[]) => values.some((v) => held.has(ROLE_ID(v)));
  const groups = any("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All");
  const users = any("User.Read.All", "Directory.Read.All");
  const needsUsers = req.path.toLowerCase().startsWith("/v1.0/users/");
  if (groups && (users || !needsUsers)) return undefined;
  return graphError(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
}

function servicePrincipals(state: TenantState): ServicePrincipal[] {
  const dir = graphDirectory(state);
  const graph: ServicePrincipal = {
    id: dir.graphServicePrincipalId,
    appId: GRAPH_APP_ID,
    displayName: "Microsoft Graph",
    servicePrincipalType: "Application",
    alternativeNames: [],
    accountEnabled: true,
    appRoles: GRAPH_APP_ROLES,
  };
  return [graph, ...Object.values(state.principals).map((p) => principalView(state, p))];
}

function principalView(state: TenantState, p: PrincipalRecord): ServicePrincipal {
  const mi = p.kind === "ManagedIdentity";
  // A system-assigned identity lists the ARM id of the resource it belongs to.
  const service = mi ? Object.values(state.apim).find((s) => s.identity?.principalId === p.objectId) : undefined;
  const resourceId = service ? `/subscriptions/${state.subscriptionId}/resourcegroups/${service.resourceGroup}/providers/Microsoft.ApiManagement/service/${service.name}` : undefined;
  return {
    id: p.objectId,
    appId: p.appId,
    displayName: p.displayName,
    servicePrincipalType: mi ? "ManagedIdentity" : "Application",
    alternativeNames: mi && resourceId ? ["isExplicit=False", resourceId] : [],
    accountEnabled: true,
    appRoles: [],
  };
}

/** Resolves `{objectId}` or `servicePrincipals(appId='…')`; 404 as Graph answers for an unknown id. */
function withPrincipal(req: Req, state: TenantState, key: string, then: (sp: ServicePrincipal) => Reply): Reply {
  const byAppId = /^servicePrincipals\(appId='([^']*)'\)$/i.exec(key)?.[1];
  const k = (byAppId ?? key).toLowerCase();
  const sp = servicePrincipals(state).find((s) => (byAppId ? s.appId : s.id).toLowerCase() === k);
  if (!sp) return graphError(req, 404, "Request_ResourceNotFound", `Resource '${byAppId ?? key}' does not exist or one of its queried reference-property objects are not present.`);
  return then(sp);
}

function project(req: Req, obj: Record<string, unknown>): Record<string, unknown> {
  const select = req.query.get("$select");
  if (!select) return obj;
  const keep = new Set(select.split(",").map((s) => s.trim()));
  return Object.fromEntries(Object.entries(obj).filter(([k]) => k === "id" || keep.has(k)));
}

function entity(req: Req, sp: ServicePrincipal): Reply {
  return json(200, { "@odata.context": `${CONTEXT}#servicePrincipals/$entity`, ...project(req, sp as unknown as Record<string, unknown>) });
}

function listServicePrincipals(req: Req, state: TenantState): Reply {
  const filter = req.query.get("$filter");
  let value = servicePrincipals(state);
  if (filter) {
    const m = /^appId eq '([^']*)'$/.exec(filter.trim());
    if (!m) return graphError(req, 400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'appId' of resource 'ServicePrincipal'.");
    value = value.filter((s) => s.appId.toLowerCase() === m[1]!.toLowerCase());
  }
  return json(200, { "@odata.context": `${CONTEXT}#servicePrincipals`, value: value.map((s) => project(req, s as unknown as Record<string, unknown>)) });
}

function listAssignments(state: TenantState, sp: ServicePrincipal, direction: "appRoleAssignments" | "appRoleAssignedTo"): Reply {
  const all = Object.values(graphDirectory(state).appRoleAssignments);
  // appRoleAssignments: what this principal was granted; appRoleAssignedTo: grants on this resource.
  const value = all.filter((a) => (direction === "appRoleAssignments" ? a.principalId : a.resourceId) === sp.id);
  return json(200, { "@odata.context": `${CONTEXT}#servicePrincipals('${sp.id}')/${direction}`, value });
}

function assign(req: Req, state: TenantState, caller: TokenClaims, sp: ServicePrincipal, direction: "appRoleAssignments" | "appRoleAssignedTo"): Reply {
  if (!canAssignAppRoles(state, String(caller.oid))) return graphError(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
  const body = (req.body ?? {}) as Record<string, unknown>;
  const [principalId, resourceId, appRoleId] = ["principalId", "resourceId", "appRoleId"].map((k) => String(body[k] ?? "").toLowerCase());
  const pathSide = direction === "appRoleAssignments" ? principalId : resourceId;
  if (!principalId || !resourceId || !appRoleId || pathSide !== sp.id.toLowerCase()) {
    return graphError(req, 400, "Request_BadRequest", "principalId, resourceId and appRoleId are required, and the service principal in the URL must be the one the body names on that side.");
  }
  const all = servicePrincipals(state);
  const principal = all.find((s) => s.id === principalId);
  const resource = all.find((s) => s.id === resourceId);
  if (!principal || !resource) return graphError(req, 404, "Request_ResourceNotFound", `Resource '${principal ? resourceId : principalId}' does not exist or one of its queried reference-property objects are not present.`);
  if (!(resource.appRoles as Array<{ id: string; allowedMemberTypes: string[] }>).some((r) => r.id === appRoleId && r.allowedMemberTypes.includes("Application"))) {
    return graphError(req, 400, "Request_BadRequest", `Permission being assigned was not found on application '${resource.appId}'.`);
  }
  const dir = graphDirectory(state);
  if (Object.values(dir.appRoleAssignments).some((a) => a.principalId === principalId && a.resourceId === resourceId && a.appRoleId === appRoleId)) {
    return graphError(req, 400, "Request_BadRequest", "Permission being assigned already exists on the object.");
  }
  const record: AppRoleAssignmentRecord = {
    id: randomBytes(32).toString("base64url").slice(0, 43),
    appRoleId,
    principalId,
    principalType: "ServicePrincipal",
    principalDisplayName: principal.displayName,
    resourceId,
    resourceDisplayName: resource.displayName,
    createdDateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
  dir.appRoleAssignments[record.id] = record;
  return json(201, { "@odata.context": `${CONTEXT}#servicePrincipals('${sp.id}')/${direction}/$entity`, ...record });
}

function unassign(req: Req, state: TenantState, caller: TokenClaims, sp: ServicePrincipal): Reply {
  if (!canAssignAppRoles(state, String(caller.oid))) return graphError(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
  const dir = graphDirectory(state);
  const a = dir.appRoleAssignments[req.params["assignment"]!];
  if (!a || (a.principalId !== sp.id && a.resourceId !== sp.id)) return graphError(req, 404, "Request_ResourceNotFound", `Resource '${req.params["assignment"]}' does not exist or one of its queried reference-property objects are not present.`);
  delete dir.appRoleAssignments[a.id];
  return { status: 204 };
}

function directoryRolesOf(state: TenantState, objectId: string): Reply {
  const value = Object.entries(graphDirectory(state).directoryRoles)
    .filter(([, r]) => r.members.includes(objectId))
    .map(([template, r]) => ({ "@odata.type": "#microsoft.graph.directoryRole", id: r.id, displayName: DIRECTORY_ROLES[template], roleTemplateId: template }));
  return json(200, { "@odata.context": `${CONTEXT}#directoryRoles`, value });
}
