import { depthName, type DesiredPrivilege } from "../dataverse/role-privileges.js";

/**
 * The gateway identity's access, judged against aeg's least-privilege design, for access reviews.
 * Pure: collect.ts reads what is held, this says which of it the design calls for.
 */
export type Verdict = "expected" | "excess" | "missing";

export interface AzureRoleEvidence {
  role: string;
  roleDefinitionId: string;
  scope: string;
  verdict: Verdict;
  why: string;
}

export interface PrivilegeEvidence {
  name: string;
  depth: string;
  verdict: Verdict;
  why: string;
}

export interface DataverseRoleEvidence {
  name: string;
  roleId?: string;
  verdict: Verdict;
  why: string;
  privileges: PrivilegeEvidence[];
}

export interface GraphRoleEvidence {
  resource: string;
  permission: string;
  verdict: Verdict;
  why: string;
}

/** Built-in Azure roles by definition GUID (the same in every tenant), for people to read. */
const AZURE_ROLE_NAMES: Record<string, string> = {
  "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
  "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
  "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
  "312a565d-c81f-4fd8-895a-4e21e48d571c": "API Management Service Contributor",
  "2b629674-e913-4c01-ae53-ef4638d8f975": "Azure Event Hubs Data Sender",
  "a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
  "f526a384-b230-433a-b45c-95f59c4a2dec": "Azure Event Hubs Data Owner",
};

const guidOf = (roleDefinitionId: string) => (/([0-9a-f-]{36})$/i.exec(roleDefinitionId)?.[1] ?? roleDefinitionId).toLowerCase();
const sameScope = (a: string, b: string) => a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();

export function azureRoleName(roleDefinitionId: string): string {
  return AZURE_ROLE_NAMES[guidOf(roleDefinitionId)] ?? `role definition ${guidOf(roleDefinitionId)}`;
}

/** The design: one role (Data Sender) at one scope (the hub). Anything else ARM lists is excess. */
export function judgeAzureRoles(held: Array<{ roleDefinitionId: string; scope: string }>, expected: { roleDefinitionGuid: string; scope: string; why: string }): AzureRoleEvidence[] {
  const isExpected = (a: { roleDefinitionId: string; scope: string }) => guidOf(a.roleDefinitionId) === expected.roleDefinitionGuid && sameScope(a.scope, expected.scope);
  const rows: AzureRoleEvidence[] = held.map((a) => ({
    role: azureRoleName(a.roleDefinitionId),
    roleDefinitionId: a.roleDefinitionId,
    scope: a.scope,
    verdict: isExpected(a) ? "expected" : "excess",
    why: isExpected(a) ? expected.why : "not part of the least-privilege design",
  }));
  if (!held.some(isExpected)) {
    rows.push({ role: azureRoleName(expected.roleDefinitionGuid), roleDefinitionId: expected.roleDefinitionGuid, scope: expected.scope, verdict: "missing", why: `${expected.why}; not assigned` });
  }
  return rows;
}

export interface HeldDataverseRole {
  roleId: string;
  name: string;
  privileges: Array<{ id: string; name: string; depth: string | number }>;
}

/**
 * The design: one role, named in the configuration, holding exactly the desired privileges at
 * their depth. Other roles are excess with every privilege they grant.
 */
export function judgeDataverseRoles(held: HeldDataverseRole[], design: { roleName: string; privileges: DesiredPrivilege[]; why: Map<string, string> }): DataverseRoleEvidence[] {
  const wanted = new Map(design.privileges.map((p) => [p.id.toLowerCase(), p]));
  const rows = held.map((role): DataverseRoleEvidence => {
    const ours = role.name === design.roleName;
    const privileges = role.privileges.map((p): PrivilegeEvidence => {
      const depth = depthName(p.depth);
      const want = ours ? wanted.get(p.id.toLowerCase()) : undefined;
      if (!want) return { name: p.name, depth, verdict: "excess", why: ours ? "the policy does not need it" : "granted by a role outside the design" };
      if (want.depth !== depth) return { name: p.name, depth, verdict: "excess", why: `the design grants ${want.depth} depth` };
      return { name: p.name, depth, verdict: "expected", why: design.why.get(want.id) ?? "the policy needs it" };
    });
    if (ours) {
      const heldIds = new Set(role.privileges.filter((p) => depthName(p.depth) === wanted.get(p.id.toLowerCase())?.depth).map((p) => p.id.toLowerCase()));
      for (const want of design.privileges) {
        if (!heldIds.has(want.id)) privileges.push({ name: want.name, depth: want.depth, verdict: "missing", why: `${design.why.get(want.id) ?? "the policy needs it"}; not held` });
      }
    }
    return { name: role.name, roleId: role.roleId, verdict: ours ? "expected" : "excess", why: ours ? "aeg's least-privilege role" : "not part of the least-privilege design", privileges };
  });
  if (!held.some((r) => r.name === design.roleName)) {
    rows.push({
      name: design.roleName,
      verdict: "missing",
      why: "aeg's least-privilege role is not assigned",
      privileges: design.privileges.map((p) => ({ name: p.name, depth: p.depth, verdict: "missing", why: design.why.get(p.id) ?? "the policy needs it" })),
    });
  }
  return rows;
}

/** The design: Microsoft Graph's GroupMember.Read.All and User.Read.All only with the fallback on. */
export function judgeGraphRoles(
  held: Array<{ resourceId: string; appRoleId: string }>,
  graph: { id: string; appRoles: Array<{ id: string; value: string }> },
  expected: readonly string[],
  fallbackOn: boolean,
): GraphRoleEvidence[] {
  const valueOf = (a: { resourceId: string; appRoleId: string }) => (a.resourceId === graph.id ? graph.appRoles.find((r) => r.id === a.appRoleId)?.value : undefined);
  const why = "the groups-overage fallback calls checkMemberGroups";
  const rows = held.map((a): GraphRoleEvidence => {
    const value = valueOf(a);
    const resource = a.resourceId === graph.id ? "Microsoft Graph" : `service principal ${a.resourceId}`;
    const permission = value ?? `app role ${a.appRoleId}`;
    if (value && fallbackOn && expected.includes(value)) return { resource, permission, verdict: "expected", why };
    return { resource, permission, verdict: "excess", why: value && expected.includes(value) ? "the groups-overage fallback is off" : "not part of the least-privilege design" };
  });
  if (fallbackOn) {
    for (const value of expected) {
      if (!held.some((a) => valueOf(a) === value)) rows.push({ resource: "Microsoft Graph", permission: value, verdict: "missing", why: `${why}; not granted` });
    }
  }
  return rows;
}
