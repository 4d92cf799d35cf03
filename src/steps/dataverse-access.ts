import { DUPLICATE_RECORD, type ApplicationUser, type DataverseClient, type RolePrivilege, type SecurityRole, type TableDefinition } from "../azure/dataverse.js";
import { azureCode, statusOf } from "../azure/errors.js";
import { DECISION_LOG_LOGICAL_NAME } from "../dataverse/decision-log-table.js";
import { desiredPrivileges, policyEntitySets, privilegeDiff } from "../dataverse/role-privileges.js";
import { inSync, seen, type Change } from "../engine/change.js";
import { defineStep, type RunContext } from "../engine/step.js";
import { dataversePreflight } from "../preflight/identity.js";
import { gatewayIdentity, principalOf, waitsOnBlockedIdentity, type GatewayIdentity } from "./apim-state.js";

interface DesiredAccess {
  identity: GatewayIdentity;
  environmentUrl: string;
  /** Entity sets the shipped policies read: the role reads exactly these. */
  entitySets: string[];
  decisionLog: boolean;
  roleName: string;
  userName: string;
}

interface DataverseAccessObserved {
  rootBusinessUnit: string;
  /** The APIM identity's appId (client id), resolved through Graph from its principal (object) id. */
  appId?: string;
  tables: Array<{ entitySet: string; table?: TableDefinition }>;
  decisionLog?: TableDefinition;
  user?: ApplicationUser;
  role?: SecurityRole;
  rolePrivileges: RolePrivilege[];
  userRoles: SecurityRole[];
}

/**
 * The writes re-read what they need (ensure…), so they stay right when run after upstream writes
 * made the identity, and when a concurrent run got there first.
 */
type AccessOp = { kind: "user"; name: string } | { kind: "role"; name: string; entitySets: string[]; decisionLog: boolean } | { kind: "assignment"; name: string; roleName: string; entitySets: string[]; decisionLog: boolean };

/**
 * Seed step 5: the gateway identity's application user (bound to the appId, never the object id),
 * a security role in the root business unit holding exactly Read (Global) on the tables the shipped
 * policy reads, plus Create on the decision log when configured, and that role assigned once.
 */
export const dataverseAccessStep = defineStep<DesiredAccess, DataverseAccessObserved, AccessOp>({
  id: "dataverse-access",
  title: "Dataverse application user and least-privilege role",
  // After the decision-log step: Create on that table can only be granted once the table exists.
  needs: ["apim", "decision-log"],

  desired: (input) => ({
    identity: gatewayIdentity(input),
    environmentUrl: input.config.dataverse.url,
    entitySets: policyEntitySets(input.templates),
    decisionLog: input.config.dataverse.decisionLog.enabled,
    roleName: input.config.dataverse.roleName,
    userName: `AEG gateway (${input.config.apim.name} managed identity)`,
  }),

  async observe(ctx, desired) {
    const dv = ctx.clients.dataverse;
    const principalId = desired.identity.state === "ready" ? desired.identity.principalId : undefined;
    const [rootBusinessUnit, tables, decisionLog, appId] = await Promise.all([
      dv.rootBusinessUnit(),
      Promise.all(desired.entitySets.map(async (entitySet) => ({ entitySet, table: await dv.tableByEntitySet(entitySet) }))),
      desired.decisionLog ? dv.tableByLogicalName(DECISION_LOG_LOGICAL_NAME) : undefined,
      principalId ? ctx.clients.graph.servicePrincipal(principalId).then((sp) => sp.appId.toLowerCase()) : undefined,
    ]);
    const [user, role] = await Promise.all([appId ? dv.applicationUser(appId) : undefined, dv.role(desired.roleName, rootBusinessUnit)]);
    const [rolePrivileges, userRoles] = await Promise.all([role ? dv.rolePrivileges(role.roleid) : [], user ? dv.userRoles(user.systemuserid) : []]);
    return { rootBusinessUnit, appId, tables, decisionLog, user, role, rolePrivileges, userRoles };
  },

  plan: (desired, observed) => [
    ...missingTables(desired, observed),
    { ...userChange(desired, observed), seen: seen({ appId: observed.appId, user: observed.user }) },
    { ...roleChange(desired, observed), seen: seen({ role: observed.role, privileges: observed.rolePrivileges, tables: observed.tables, decisionLog: observed.decisionLog }) },
    { ...assignmentChange(desired, observed), seen: seen({ user: observed.user?.systemuserid, roles: observed.userRoles.map((r) => r.roleid).sort() }) },
  ],

  async apply(ctx, { op }) {
    switch (op.kind) {
      case "user":
        await ensureApplicationUser(ctx, op.name);
        return;
      case "role":
        await ensureRole(ctx.clients.dataverse, op.name, op.entitySets, op.decisionLog);
        return;
      case "assignment":
        return ensureAssignment(ctx, op);
    }
  },

  preflight: dataversePreflight,

  outputs: (_desired, { appId, user, role }) => ({ appId, applicationUserId: user?.systemuserid, roleId: role?.roleid }),
});

function readTables(o: DataverseAccessObserved): TableDefinition[] {
  return o.tables.flatMap((t) => (t.table ? [t.table] : []));
}

/** Tables belong to sibling solutions: aeg reports a missing one and never creates it. */
function missingTables(desired: DesiredAccess, o: DataverseAccessObserved): Change<AccessOp>[] {
  const missing: Change<AccessOp>[] = o.tables
    .filter((t) => !t.table)
    .map((t) => ({
      action: "unverifiable",
      resource: `tables/${t.entitySet}`,
      fields: [],
      note: `the policy reads ${t.entitySet} but ${desired.environmentUrl} has no such table; install the sibling solution that owns it (aeg never creates it), then re-run`,
    }));
  if (desired.decisionLog && !o.decisionLog) {
    missing.push({ action: "unverifiable", resource: `tables/${DECISION_LOG_LOGICAL_NAME}`, fields: [], note: "dataverse.decisionLog.enabled is true but the table does not exist yet: no Create privilege is granted on it" });
  }
  return missing;
}

function userResource(o: DataverseAccessObserved): string {
  return `applicationUsers/${o.appId ?? "(APIM identity)"}`;
}

function userChange(desired: DesiredAccess, o: DataverseAccessObserved): Change<AccessOp> {
  const resource = userResource(o);
  if (desired.identity.state === "blocked") return waitsOnBlockedIdentity(resource);
  if (o.user && !o.user.isdisabled) return inSync(resource);
  const op: AccessOp = { kind: "user", name: desired.userName };
  if (o.user) return { action: "update", resource, fields: [{ field: "isdisabled", from: true, to: false }], note: "the application user is disabled: the gateway cannot read", op };
  return {
    action: "create",
    resource,
    fields: [
      { field: "applicationid", to: o.appId ?? "(the APIM identity's appId, once it exists)" },
      { field: "businessunitid", to: o.rootBusinessUnit },
    ],
    op,
  };
}

function roleChange(desired: DesiredAccess, o: DataverseAccessObserved): Change<AccessOp> {
  const resource = `roles/${desired.roleName}`;
  const diff = privilegeDiff(desiredPrivileges(readTables(o), o.decisionLog), o.role ? o.rolePrivileges : []);
  if (o.role && diff.fields.length === 0) return inSync(resource);
  return {
    action: o.role ? "update" : "create",
    resource,
    fields: o.role ? diff.fields : [{ field: "businessunitid", to: o.rootBusinessUnit }, ...diff.fields],
    op: { kind: "role", name: desired.roleName, entitySets: desired.entitySets, decisionLog: desired.decisionLog },
  };
}

function assignmentChange(desired: DesiredAccess, o: DataverseAccessObserved): Change<AccessOp> {
  const resource = `${userResource(o)}/roles/${desired.roleName}`;
  if (desired.identity.state === "blocked") return waitsOnBlockedIdentity(resource);
  if (o.role && o.userRoles.some((r) => r.roleid === o.role!.roleid)) return inSync(resource);
  return {
    action: "create",
    resource,
    fields: [{ field: "role", to: desired.roleName }],
    op: { kind: "assignment", name: desired.userName, roleName: desired.roleName, entitySets: desired.entitySets, decisionLog: desired.decisionLog },
  };
}

// ---- writes ----

async function appIdOf(ctx: RunContext): Promise<string> {
  return (await ctx.clients.graph.servicePrincipal(principalOf(ctx, "dataverse-access"))).appId.toLowerCase();
}

/** Finds or creates the application user; a duplicate answer means someone made it first: adopt it. */
async function ensureApplicationUser(ctx: RunContext, name: string): Promise<ApplicationUser> {
  const dv = ctx.clients.dataverse;
  const appId = await appIdOf(ctx);
  let user = await dv.applicationUser(appId);
  if (!user) {
    try {
      await dv.createApplicationUser(appId, await dv.rootBusinessUnit(), name);
    } catch (err) {
      if (!(statusOf(err) === 412 && azureCode(err) === DUPLICATE_RECORD)) throw err;
    }
    user = await dv.applicationUser(appId);
    if (!user) throw new Error(`dataverse-access: the application user for ${appId} was created but cannot be read back`);
  }
  if (user.isdisabled) {
    await dv.setUserDisabled(user.systemuserid, false);
    user = { ...user, isdisabled: false };
  }
  return user;
}

async function ensureRole(dv: DataverseClient, roleName: string, entitySets: string[], decisionLogEnabled: boolean): Promise<SecurityRole> {
  const root = await dv.rootBusinessUnit();
  let role = await dv.role(roleName, root);
  if (!role) {
    await dv.createRole(roleName, root, "Read-only access for the Agent Eligibility Gateway's managed identity (managed by aeg).");
    role = await dv.role(roleName, root);
    if (!role) throw new Error(`dataverse-access: role '${roleName}' was created but cannot be read back`);
  }
  const tables = (await Promise.all(entitySets.map((s) => dv.tableByEntitySet(s)))).flatMap((t) => (t ? [t] : []));
  const decisionLog = decisionLogEnabled ? await dv.tableByLogicalName(DECISION_LOG_LOGICAL_NAME) : undefined;
  // Re-read after create: a new role may already hold platform defaults, which go too.
  const diff = privilegeDiff(desiredPrivileges(tables, decisionLog), await dv.rolePrivileges(role.roleid));
  if (diff.add.length > 0) await dv.addPrivileges(role.roleid, diff.add.map((p) => ({ PrivilegeId: p.id, Depth: p.depth })), root);
  for (const extra of diff.remove) await dv.removePrivilege(role.roleid, extra.id);
  return role;
}

async function ensureAssignment(ctx: RunContext, op: Extract<AccessOp, { kind: "assignment" }>): Promise<void> {
  const dv = ctx.clients.dataverse;
  const user = await ensureApplicationUser(ctx, op.name);
  const role = await ensureRole(dv, op.roleName, op.entitySets, op.decisionLog);
  if ((await dv.userRoles(user.systemuserid)).some((r) => r.roleid === role.roleid)) return;
  try {
    await dv.assignRole(user.systemuserid, role.roleid);
  } catch (err) {
    if (azureCode(err) !== DUPLICATE_RECORD) throw err; // assigned by a concurrent run: done
  }
}
