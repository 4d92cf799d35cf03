import { statusOf, azureCode } from "../azure/errors.js";
import { DUPLICATE_RECORD, type ApplicationUser, type DataverseClient, type RolePrivilege, type SecurityRole, type TableDefinition } from "../azure/dataverse.js";
import type { Change, RunContext, Step } from "../engine/types.js";
import type { TemplateSet } from "../policy/templates.js";
import { dataversePreflight, services } from "./identity-preflight.js";
import { DECISION_LOG_TABLE, desiredPrivileges, policyEntitySets, privilegeDiff } from "./role-privileges.js";

export interface DataverseAccessObserved {
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

const ROLE = "Dataverse System Administrator in the governance-store environment";

/**
 * Seed step 5: the gateway identity's application user (bound to the appId, never the object id),
 * a security role in the root business unit holding exactly Read (Global) on the tables the shipped
 * policy reads, plus Create on the decision log when configured, and that role assigned once.
 */
export function dataverseAccessStep(templates: TemplateSet): Step<DataverseAccessObserved> {
  const entitySets = policyEntitySets(templates);
  return {
    id: "dataverse-access",
    title: "Dataverse application user and least-privilege role",
    // After the decision-log step: Create on that table can only be granted once the table exists.
    needs: ["apim", "decision-log"],
    requiredRole: ROLE,

    async observe(ctx) {
      const dv = client(ctx);
      const principalId = ctx.outputs.apim?.principalId;
      const [rootBusinessUnit, tables, decisionLog, appId] = await Promise.all([
        dv.rootBusinessUnit(),
        Promise.all(entitySets.map(async (entitySet) => ({ entitySet, table: await dv.tableByEntitySet(entitySet) }))),
        ctx.config.dataverse.decisionLog.enabled ? dv.tableByLogicalName(DECISION_LOG_TABLE) : undefined,
        principalId ? services(ctx).graph.servicePrincipal(principalId).then((sp) => sp.appId.toLowerCase()) : undefined,
      ]);
      const [user, role] = await Promise.all([appId ? dv.applicationUser(appId) : undefined, dv.role(ctx.config.dataverse.roleName, rootBusinessUnit)]);
      const [rolePrivileges, userRoles] = await Promise.all([role ? dv.rolePrivileges(role.roleid) : [], user ? dv.userRoles(user.systemuserid) : []]);
      return { rootBusinessUnit, appId, tables, decisionLog, user, role, rolePrivileges, userRoles };
    },

    plan(ctx, observed): Change[] {
      return [...missingTables(ctx, observed), userChange(ctx, observed), roleChange(ctx, observed, entitySets), assignmentChange(ctx, observed, entitySets)];
    },

    preflight: (ctx) => dataversePreflight(ctx, ctx.config.dataverse.url),

    outputs(_ctx, { appId, user, role }) {
      return { appId, applicationUserId: user?.systemuserid, roleId: role?.roleid };
    },
  };
}

function client(ctx: RunContext): DataverseClient {
  return services(ctx).dataverse(ctx.config.dataverse.url);
}

function readTables(o: DataverseAccessObserved): TableDefinition[] {
  return o.tables.flatMap((t) => (t.table ? [t.table] : []));
}

/** Tables belong to sibling solutions: aeg reports a missing one and never creates it. */
function missingTables(ctx: RunContext, o: DataverseAccessObserved): Change[] {
  const missing: Change[] = o.tables
    .filter((t) => !t.table)
    .map((t) => ({
      action: "unverifiable",
      resource: `tables/${t.entitySet}`,
      fields: [],
      note: `the policy reads ${t.entitySet} but ${ctx.config.dataverse.url} has no such table; install the sibling solution that owns it (aeg never creates it), then re-run`,
    }));
  if (ctx.config.dataverse.decisionLog.enabled && !o.decisionLog) {
    missing.push({ action: "unverifiable", resource: `tables/${DECISION_LOG_TABLE}`, fields: [], note: "dataverse.decisionLog.enabled is true but the table does not exist yet: no Create privilege is granted on it" });
  }
  return missing;
}

function userResource(o: DataverseAccessObserved): string {
  return `applicationUsers/${o.appId ?? "(APIM identity)"}`;
}

function userChange(ctx: RunContext, o: DataverseAccessObserved): Change {
  const resource = userResource(o);
  if (o.user && !o.user.isdisabled) return { action: "ok", resource, fields: [] };
  if (o.user) {
    return { action: "update", resource, fields: [{ field: "isdisabled", from: true, to: false }], note: "the application user is disabled: the gateway cannot read", write: (c) => ensureApplicationUser(c).then(() => undefined) };
  }
  return {
    action: "create",
    resource,
    fields: [
      { field: "applicationid", to: o.appId ?? "(the APIM identity's appId, once it exists)" },
      { field: "businessunitid", to: o.rootBusinessUnit },
    ],
    write: (c) => ensureApplicationUser(c).then(() => undefined),
  };
}

function roleChange(ctx: RunContext, o: DataverseAccessObserved, entitySets: string[]): Change {
  const { roleName } = ctx.config.dataverse;
  const resource = `roles/${roleName}`;
  const desired = desiredPrivileges(readTables(o), o.decisionLog);
  const diff = privilegeDiff(desired, o.role ? o.rolePrivileges : []);
  if (o.role && diff.fields.length === 0) return { action: "ok", resource, fields: [] };
  return {
    action: o.role ? "update" : "create",
    resource,
    fields: o.role ? diff.fields : [{ field: "businessunitid", to: o.rootBusinessUnit }, ...diff.fields],
    write: (c) => ensureRole(c, entitySets).then(() => undefined),
  };
}

function assignmentChange(ctx: RunContext, o: DataverseAccessObserved, entitySets: string[]): Change {
  const resource = `${userResource(o)}/roles/${ctx.config.dataverse.roleName}`;
  if (o.role && o.userRoles.some((r) => r.roleid === o.role!.roleid)) return { action: "ok", resource, fields: [] };
  return { action: "create", resource, fields: [{ field: "role", to: ctx.config.dataverse.roleName }], write: (c) => ensureAssignment(c, entitySets) };
}

// ---- writes: each re-reads what it needs, so they stay correct when run after upstream writes ----

async function appIdOf(ctx: RunContext): Promise<string> {
  const principalId = ctx.outputs.apim?.principalId;
  if (!principalId) throw new Error("dataverse-access: the APIM instance has no system-assigned identity yet; re-run once step apim has completed");
  return (await services(ctx).graph.servicePrincipal(principalId)).appId.toLowerCase();
}

/** Finds or creates the application user; a duplicate answer means someone made it first: adopt it. */
export async function ensureApplicationUser(ctx: RunContext): Promise<ApplicationUser> {
  const dv = client(ctx);
  const appId = await appIdOf(ctx);
  let user = await dv.applicationUser(appId);
  if (!user) {
    try {
      await dv.createApplicationUser(appId, await dv.rootBusinessUnit(), `AEG gateway (${ctx.config.apim.name} managed identity)`);
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

async function ensureRole(ctx: RunContext, entitySets: string[]): Promise<SecurityRole> {
  const dv = client(ctx);
  const { roleName } = ctx.config.dataverse;
  const root = await dv.rootBusinessUnit();
  let role = await dv.role(roleName, root);
  if (!role) {
    await dv.createRole(roleName, root, "Read-only access for the Agent Eligibility Gateway's managed identity (managed by aeg).");
    role = await dv.role(roleName, root);
    if (!role) throw new Error(`dataverse-access: role '${roleName}' was created but cannot be read back`);
  }
  const tables = (await Promise.all(entitySets.map((s) => dv.tableByEntitySet(s)))).flatMap((t) => (t ? [t] : []));
  const decisionLog = ctx.config.dataverse.decisionLog.enabled ? await dv.tableByLogicalName(DECISION_LOG_TABLE) : undefined;
  // Re-read after create: a new role may already hold platform defaults, which go too.
  const diff = privilegeDiff(desiredPrivileges(tables, decisionLog), await dv.rolePrivileges(role.roleid));
  if (diff.add.length > 0) await dv.addPrivileges(role.roleid, diff.add.map((p) => ({ PrivilegeId: p.id, Depth: p.depth })), root);
  for (const extra of diff.remove) await dv.removePrivilege(role.roleid, extra.id);
  return role;
}

async function ensureAssignment(ctx: RunContext, entitySets: string[]): Promise<void> {
  const dv = client(ctx);
  const user = await ensureApplicationUser(ctx);
  const role = await ensureRole(ctx, entitySets);
  if ((await dv.userRoles(user.systemuserid)).some((r) => r.roleid === role.roleid)) return;
  try {
    await dv.assignRole(user.systemuserid, role.roleid);
  } catch (err) {
    if (azureCode(err) !== DUPLICATE_RECORD) throw err; // assigned by a concurrent run: done
  }
}

