import type { ApplicationUser, SecurityRole } from "../../azure/dataverse.js";
import { isNotFound, orMissing } from "../../azure/errors.js";
import { inSync, skipped, type Change } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { dataverseTeardownPreflight } from "../../preflight/identity.js";
import { leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface AccessObserved {
  gateway: GatewayObserved;
  appId?: string;
  user?: ApplicationUser;
  /** Every role the application user holds: the disabled user is left with none. */
  userRoles: SecurityRole[];
  /** The role setup manages (`dataverse.roleName` in the root business unit). */
  role?: SecurityRole;
  /** Users holding that role other than the gateway's own (another environment's gateway, say). */
  otherHolders: string[];
}

type AccessOp = { kind: "unassign"; userId: string; roleId: string } | { kind: "delete-role"; roleId: string } | { kind: "disable"; userId: string };

const CANNOT_DELETE_USER = "Dataverse cannot delete an application user while its Entra identity exists: it is disabled instead";

/**
 * The gateway identity's access to the governance store, in the order that leaves nothing
 * half-granted: the application user's role assignments, the role setup made (kept while another
 * user still holds it: environments may share one role name), then the user disabled.
 */
export const removeDataverseAccessStep = defineStep<{ roleName: string }, AccessObserved, AccessOp>({
  id: "remove-dataverse-access",
  title: "Dataverse role assignment, role and application user",
  needs: [],

  desired: ({ config }) => ({ roleName: config.dataverse.roleName }),

  async observe(ctx, desired) {
    const gateway = await observeGateway(ctx);
    if (someoneElses(gateway)) return { gateway, userRoles: [], otherHolders: [] };
    const dv = ctx.clients.dataverse;
    const live = gateway.principalId ? (await orMissing(ctx.clients.graph.servicePrincipal(gateway.principalId)))?.appId.toLowerCase() : undefined;
    // After a purge the identity is gone; the journal still knows which user was the gateway's.
    const appId = live ?? ctx.journal.get("dataverse-access")?.outputs?.appId ?? ctx.journal.get("remove-dataverse-access")?.outputs?.appId;
    const [user, role] = await Promise.all([appId ? dv.applicationUser(appId) : undefined, dv.role(desired.roleName, await dv.rootBusinessUnit())]);
    const [userRoles, holders] = await Promise.all([user ? dv.userRoles(user.systemuserid) : [], role ? dv.roleHolders(role.roleid) : []]);
    const otherHolders = holders.filter((id) => id !== user?.systemuserid);
    return { gateway, ...(appId ? { appId } : {}), ...(user ? { user } : {}), ...(role ? { role } : {}), userRoles, otherHolders };
  },

  plan(desired, { gateway, appId, user, userRoles, role, otherHolders }) {
    const userResource = `applicationUsers/${appId ?? "(APIM identity)"}`;
    const roleResource = `roles/${desired.roleName}`;
    if (someoneElses(gateway)) return [leftToItsOwner(userResource)];
    const changes: Change<AccessOp>[] = (user ? userRoles : []).map((held) => ({
      action: "delete",
      resource: `${userResource}/roles/${held.name}`,
      fields: [],
      op: { kind: "unassign", userId: user!.systemuserid, roleId: held.roleid },
    }));
    if (!role) changes.push(inSync(roleResource));
    else if (otherHolders.length > 0) changes.push(skipped(roleResource, `still assigned to ${otherHolders.length} other user${otherHolders.length === 1 ? "" : "s"}: kept`));
    else changes.push({ action: "delete", resource: roleResource, fields: [], op: { kind: "delete-role", roleId: role.roleid } });
    if (user && !user.isdisabled) {
      changes.push({ action: "update", resource: userResource, fields: [{ field: "isdisabled", from: false, to: true }], note: CANNOT_DELETE_USER, op: { kind: "disable", userId: user.systemuserid } });
    } else changes.push(inSync(userResource));
    return changes;
  },

  async apply(ctx, { op }) {
    const dv = ctx.clients.dataverse;
    switch (op.kind) {
      case "unassign":
        return dv.unassignRole(op.userId, op.roleId);
      case "delete-role":
        try {
          return await dv.deleteRole(op.roleId);
        } catch (err) {
          if (!isNotFound(err)) throw err; // deleted since the plan was read
          return;
        }
      case "disable":
        return dv.setUserDisabled(op.userId, true);
    }
  },

  preflight: dataverseTeardownPreflight,

  // Kept in the journal: after a purge, the identity that led to the user no longer exists.
  outputs: (_desired, { appId, user }) => ({ appId, applicationUserId: user?.systemuserid }),
});
