// Microsoft.Authorization: role assignments at any scope, with ARM's idempotency rules (same
// name + same body succeeds again; same triple under another name is 409), the built-in role
// definitions, and the caller's permissions at a resource group or resource.
import { json, type Req } from "../http.js";
import type { RoleAssignmentRecord, TenantState } from "../store.js";
import { body, fail, props, requireResourceGroup, type ArmContext, type ArmRouter } from "./common.js";
import { permissionsAt } from "./rbac.js";
import { ROLE_DEFINITIONS } from "./roleDefinitions.js";

const AUTHORIZATION_API = "2022-04-01";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function principalTypeOf(state: TenantState, principalId: string): string | undefined {
  const p = state.principals[principalId.toLowerCase()] ?? Object.values(state.principals).find((x) => x.objectId.toLowerCase() === principalId.toLowerCase());
  return p ? "ServicePrincipal" : undefined;
}

export function registerAuthorization(r: ArmRouter, ctx: ArmContext): void {
  const s = ctx.state;
  const tag = { apiVersion: AUTHORIZATION_API };
  const roleDefId = (guid: string) => `/subscriptions/${s.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
  const render = (a: RoleAssignmentRecord) => ({
    id: `${a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
    name: a.name,
    type: "Microsoft.Authorization/roleAssignments",
    properties: {
      roleDefinitionId: roleDefId(a.roleDefinitionGuid),
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      ...a.extra,
      createdOn: a.createdOn,
      updatedOn: a.updatedOn,
      createdBy: a.createdBy,
      updatedBy: a.createdBy,
    },
  });
  const scopeOf = (req: Req) => {
    const scope = req.params["scope"]!.replace(/\/+$/, "");
    const rg = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)/i.exec(scope)?.[1];
    if (rg) requireResourceGroup(ctx, rg);
    return scope;
  };
  const assignmentPath = "/{*scope}/providers/Microsoft.Authorization/roleAssignments/{name}";

  r.add("GET", assignmentPath, (req) => {
    scopeOf(req);
    const a = s.roleAssignments[req.params["name"]!.toLowerCase()];
    if (!a) fail(404, "RoleAssignmentNotFound", `The role assignment '${req.params["name"]}' is not found.`);
    return json(200, render(a));
  }, tag);

  r.add("PUT", assignmentPath, (req) => {
    const scope = scopeOf(req);
    const name = req.params["name"]!;
    if (!GUID.test(name)) fail(400, "InvalidRoleAssignmentId", `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`);
    const p = props(body(req));
    const roleDefinitionId = typeof p["roleDefinitionId"] === "string" ? p["roleDefinitionId"] : "";
    const principalId = typeof p["principalId"] === "string" ? p["principalId"] : "";
    const guid = /\/roleDefinitions\/([^/]+)$/i.exec(roleDefinitionId)?.[1]?.toLowerCase() ?? "";
    if (!ROLE_DEFINITIONS[guid]) fail(400, "RoleDefinitionDoesNotExist", `The specified role definition with ID '${guid || roleDefinitionId}' does not exist.`);
    const actualType = principalTypeOf(s, principalId);
    if (!actualType) {
      fail(400, "PrincipalNotFound", `Principal ${principalId.replace(/-/g, "")} does not exist in the directory ${s.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`);
    }
    const principalType = typeof p["principalType"] === "string" ? p["principalType"] : actualType;
    if (principalType !== actualType) fail(400, "UnmatchedPrincipalType", `The PrincipalId '${principalId.replace(/-/g, "")}' has type '${actualType}' , which is different from specified PrincipalType '${principalType}'.`);
    const existing = s.roleAssignments[name.toLowerCase()];
    if (existing) {
      const same = existing.scope.toLowerCase() === scope.toLowerCase() && existing.principalId.toLowerCase() === principalId.toLowerCase() && existing.roleDefinitionGuid === guid;
      if (!same) fail(409, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.");
      return json(201, render(existing));
    }
    const dup = Object.values(s.roleAssignments).find((a) => a.scope.toLowerCase() === scope.toLowerCase() && a.principalId.toLowerCase() === principalId.toLowerCase() && a.roleDefinitionGuid === guid);
    if (dup) fail(409, "RoleAssignmentExists", "The role assignment already exists.");
    const extra: Record<string, unknown> = {};
    for (const k of ["description", "condition", "conditionVersion", "delegatedManagedIdentityResourceId"]) if (p[k] !== undefined) extra[k] = p[k];
    const now = new Date().toISOString();
    const caller = req.caller?.objectId ?? s.apps.operator.objectId;
    const a: RoleAssignmentRecord = { name, scope, roleDefinitionGuid: guid, principalId, principalType, extra, createdOn: now, updatedOn: now, createdBy: caller };
    s.roleAssignments[name.toLowerCase()] = a;
    return json(201, render(a));
  }, tag);

  r.add("DELETE", assignmentPath, (req) => {
    scopeOf(req);
    const a = s.roleAssignments[req.params["name"]!.toLowerCase()];
    if (!a) return { status: 204 };
    delete s.roleAssignments[a.name.toLowerCase()];
    return json(200, render(a));
  }, tag);

  r.add("GET", "/{*scope}/providers/Microsoft.Authorization/roleAssignments", (req) => {
    const scope = scopeOf(req).toLowerCase();
    const filter = req.query.get("$filter") ?? "";
    const principal = /principalId\s+eq\s+'([^']+)'/i.exec(filter)?.[1]?.toLowerCase();
    const assignedTo = /assignedTo\('([^']+)'\)/i.exec(filter)?.[1]?.toLowerCase();
    const atScope = /atScope\(\)/i.test(filter);
    const within = (a: string, b: string) => a === b || b.startsWith(a + "/");
    const value = Object.values(s.roleAssignments)
      .filter((a) => {
        const as = a.scope.toLowerCase();
        // Assignments that apply at the scope (at or above), and below it unless atScope().
        if (!(within(as, scope) || (!atScope && within(scope, as)))) return false;
        const pid = principal ?? assignedTo;
        return !pid || a.principalId.toLowerCase() === pid;
      })
      .map(render);
    return json(200, { value });
  }, tag);

  // The caller's permissions: one entry per role assignment of theirs at or above the scope. The
  // spec has this for resource groups and resources only. A resource group must exist (ARM's
  // front door checks); a resource need not (the authorization provider evaluates the scope as
  // written, so what applies there is what its ancestors grant).
  const permissionsScope = (path: string) => /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+(\/providers\/[^/]+\/[^/]+\/[^/]+(\/[^/]+\/[^/]+)*)?\/providers\/Microsoft\.Authorization\/permissions$/i.test(path);
  r.add(
    "GET",
    "/{*scope}/providers/Microsoft.Authorization/permissions",
    (req) => {
      const scope = scopeOf(req);
      const value = permissionsAt(s, req.caller!.objectId, scope).map((p) => ({ actions: p.actions, notActions: p.notActions, dataActions: p.dataActions, notDataActions: p.notDataActions }));
      return json(200, { value });
    },
    tag,
    permissionsScope,
  );

  r.add("GET", "/{*scope}/providers/Microsoft.Authorization/roleDefinitions/{id}", (req) => {
    scopeOf(req);
    const guid = req.params["id"]!.toLowerCase();
    const definition = ROLE_DEFINITIONS[guid];
    if (!definition) fail(404, "RoleDefinitionDoesNotExist", `The specified role definition with ID '${req.params["id"]}' does not exist.`);
    return json(200, {
      id: roleDefId(guid),
      name: guid,
      type: "Microsoft.Authorization/roleDefinitions",
      properties: { roleName: definition.roleName, type: "BuiltInRole", permissions: definition.permissions, assignableScopes: ["/"] },
    });
  }, tag);
}
