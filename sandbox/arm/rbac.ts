// Azure RBAC for the control plane, computed from the tenant's role assignments and the built-in
// role definitions: what the permissions API answers and what ARM enforces on writes.
import { randomUUID } from "node:crypto";
import { newApp, type AppRecord, type TenantState } from "../store.js";
import { CONTRIBUTOR, OWNER, READER, ROLE_DEFINITIONS, type Permission } from "./roleDefinitions.js";

const norm = (scope: string) => scope.replace(/\/+$/, "").toLowerCase();

/** An assignment at `assigned` applies at `target` when it is at or above it. */
export function applies(assigned: string, target: string): boolean {
  const a = norm(assigned);
  const t = norm(target);
  return a === "" || t === a || t.startsWith(`${a}/`);
}

/** ARM's wildcard rule: case-insensitive, `*` matches any run of characters including `/`. */
export function matches(pattern: string, action: string): boolean {
  const body = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "i").test(action);
}

/** One permission entry per role assignment of the principal that applies at the scope. */
export function permissionsAt(state: TenantState, principalId: string, scope: string): Permission[] {
  const principal = principalId.toLowerCase();
  return Object.values(state.roleAssignments)
    .filter((a) => a.principalId.toLowerCase() === principal && applies(a.scope, scope))
    .flatMap((a) => ROLE_DEFINITIONS[a.roleDefinitionGuid]?.permissions ?? []);
}

/** Allowed when some entry's actions match and that entry's notActions do not. */
export function allowed(permissions: Permission[], action: string): boolean {
  return permissions.some((p) => p.actions.some((x) => matches(x, action)) && !p.notActions.some((x) => matches(x, action)));
}

/** The three applications of the sandbox tenant and the role each holds on the subscription. */
const SEED: Array<{ app: "operator" | "reader" | "contributor"; role: string }> = [
  { app: "operator", role: OWNER },
  { app: "reader", role: READER },
  { app: "contributor", role: CONTRIBUTOR },
];

/**
 * Brings a tenant to its seed: the contributor application (absent from tenants made before it
 * existed), and each seeded application's role on the subscription when it holds none at all.
 */
export function seedRoleAssignments(state: TenantState): void {
  const apps = state.apps as { contributor?: AppRecord } & TenantState["apps"];
  apps.contributor ??= newApp("aeg contributor", "Contributor");
  for (const a of Object.values(state.apps)) {
    state.principals[a.objectId] ??= { objectId: a.objectId, appId: a.clientId, displayName: a.displayName, kind: "Application" };
  }
  const subscription = `/subscriptions/${state.subscriptionId}`;
  const now = new Date().toISOString();
  for (const { app, role } of SEED) {
    const { objectId } = state.apps[app];
    if (Object.values(state.roleAssignments).some((a) => a.principalId.toLowerCase() === objectId.toLowerCase())) continue;
    const name = randomUUID();
    state.roleAssignments[name] = { name, scope: subscription, roleDefinitionGuid: role, principalId: objectId, principalType: "ServicePrincipal", extra: {}, createdOn: now, updatedOn: now, createdBy: state.apps.operator.objectId };
  }
}
