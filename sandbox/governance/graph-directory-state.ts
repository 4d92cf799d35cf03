// The directory as Microsoft Graph shows it to aeg: the Microsoft Graph service principal with its
// application roles, app-role assignments, and directory-role memberships. Service principals of
// apps and managed identities come from TenantState.principals (the ARM side records an APIM
// identity there, with an appId distinct from its object id). Seeded lazily, kept on disk.
import { randomBytes, randomUUID } from "node:crypto";
import type { TenantState } from "../store.js";

/** Microsoft Graph's application id, the same in every tenant (its service principal's id is not). */
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
const PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814";
const GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10";

/** Microsoft Graph's application roles that matter here; ids as Microsoft publishes them. */
export const GRAPH_APP_ROLES = [
  { value: "GroupMember.Read.All", id: "98830695-27a2-44f7-8c18-0c3ebc9698f6", displayName: "Read all group memberships" },
  { value: "User.Read.All", id: "df021288-bdef-4463-88db-98f22de89214", displayName: "Read all users' full profiles" },
  { value: "Group.Read.All", id: "5b567255-7703-4780-807c-7be8301ae99b", displayName: "Read all groups" },
  { value: "Directory.Read.All", id: "7ab1d382-f21e-4acd-a863-ba3e13f7da61", displayName: "Read directory data" },
  { value: "Application.Read.All", id: "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", displayName: "Read all applications" },
  { value: "AppRoleAssignment.ReadWrite.All", id: "06b708a9-e830-4db3-a914-8e69da51d44f", displayName: "Manage app permission grants and app role assignments" },
].map((r) => ({ ...r, allowedMemberTypes: ["Application"], description: `Allows the app to ${r.displayName.toLowerCase()} without a signed-in user.`, isEnabled: true, origin: "Application" }));

export const DIRECTORY_ROLES: Record<string, string> = {
  [PRIVILEGED_ROLE_ADMINISTRATOR]: "Privileged Role Administrator",
  [GLOBAL_ADMINISTRATOR]: "Global Administrator",
};

export interface AppRoleAssignmentRecord {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: "ServicePrincipal";
  principalDisplayName: string;
  resourceId: string;
  resourceDisplayName: string;
  createdDateTime: string;
}

export interface GraphDirectoryState {
  /** Object id of the Microsoft Graph service principal in this tenant (differs per tenant). */
  graphServicePrincipalId: string;
  appRoleAssignments: Record<string, AppRoleAssignmentRecord>;
  /** Directory role template id → directory role object id and member object ids. */
  directoryRoles: Record<string, { id: string; members: string[] }>;
}

export function graphDirectory(state: TenantState): GraphDirectoryState {
  return (state.graphDirectory ??= seed(state));
}

function seed(state: TenantState): GraphDirectoryState {
  const graphId = randomUUID();
  const operator = state.apps.operator;
  // The operator app may read the directory (Directory.Read.All), as admin tooling usually can;
  // the reader holds nothing. Neither grant touches the gateway identity's own assignments.
  const read: AppRoleAssignmentRecord = {
    id: randomBytes(32).toString("base64url").slice(0, 43),
    appRoleId: GRAPH_APP_ROLES.find((r) => r.value === "Directory.Read.All")!.id,
    principalId: operator.objectId,
    principalType: "ServicePrincipal",
    principalDisplayName: operator.displayName,
    resourceId: graphId,
    resourceDisplayName: "Microsoft Graph",
    createdDateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
  return {
    graphServicePrincipalId: graphId,
    appRoleAssignments: { [read.id]: read },
    // The operator can consent to Graph app roles; the reader cannot (it holds no directory role).
    directoryRoles: {
      [PRIVILEGED_ROLE_ADMINISTRATOR]: { id: randomUUID(), members: [state.apps.operator.objectId] },
      [GLOBAL_ADMINISTRATOR]: { id: randomUUID(), members: [] },
    },
  };
}

/** The caller may assign app roles: a directory role that allows it, or the app permission. */
export function canAssignAppRoles(state: TenantState, objectId: string): boolean {
  const dir = graphDirectory(state);
  const oid = objectId.toLowerCase();
  if (Object.values(dir.directoryRoles).some((r) => r.members.includes(oid))) return true;
  const manage = GRAPH_APP_ROLES.find((r) => r.value === "AppRoleAssignment.ReadWrite.All")!.id;
  return heldGraphRoles(state, oid).includes(manage);
}

/** Ids of the Microsoft Graph app roles a principal holds. */
export function heldGraphRoles(state: TenantState, principalId: string): string[] {
  const dir = graphDirectory(state);
  return Object.values(dir.appRoleAssignments)
    .filter((a) => a.principalId === principalId.toLowerCase() && a.resourceId === dir.graphServicePrincipalId)
    .map((a) => a.appRoleId);
}
