// Dataverse's security model as the sandbox keeps it on disk: business units, users (human-less:
// application users only), security roles with per-privilege depths, table metadata with the eight
// privileges per table (named from the SchemaName), and Copilot Studio `bot` rows. Seeded lazily
// so tenants written before this existed gain it on their next start.
import { randomUUID } from "node:crypto";
import type { TenantState } from "../store.js";

export const SYSTEM_ADMINISTRATOR_TEMPLATE = "627090ff-40a3-4053-8790-584edc5be201";
export const PRIVILEGE_TYPES = ["Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share"] as const;
/** PrivilegeDepth: Basic 0, Local 1, Deep 2, Global 3. */
export const DEPTHS = ["Basic", "Local", "Deep", "Global"] as const;

export interface DvPrivilege {
  PrivilegeId: string;
  Name: string;
  PrivilegeType: (typeof PRIVILEGE_TYPES)[number];
  CanBeBasic: boolean;
  CanBeLocal: boolean;
  CanBeDeep: boolean;
  CanBeGlobal: boolean;
  CanBeEntityReference: boolean;
  CanBeParentEntityReference: boolean;
}

/** What privileges are derived from: a table's names and ownership (metadata lives elsewhere). */
export interface TableInfo {
  logicalName: string;
  schemaName: string;
  ownershipType: "UserOwned" | "OrganizationOwned";
}

export interface DvUser {
  systemuserid: string;
  applicationid: string | null;
  azureactivedirectoryobjectid: string | null;
  firstname: string | null;
  lastname: string | null;
  fullname: string;
  isdisabled: boolean;
  businessunitid: string;
  roleIds: string[];
}

export interface DvRole {
  roleid: string;
  name: string;
  description?: string | null;
  businessunitid: string;
  roletemplateid: string | null;
  ismanaged: boolean;
  /** privilege id → depth (0-3). */
  privileges: Record<string, number>;
}

export interface DvBot {
  botid: string;
  name: string;
  schemaname: string;
  authenticationmode: number;
  authenticationtrigger: number;
  statecode: number;
  statuscode: number;
}

export interface DataverseIdentityState {
  organizationId: string;
  rootBusinessUnitId: string;
  businessUnits: Record<string, { businessunitid: string; name: string; parentbusinessunitid: string | null }>;
  users: Record<string, DvUser>;
  roles: Record<string, DvRole>;
  /** The eight privileges of every table seen so far, by logical name (ids stay stable). */
  privileges: Record<string, DvPrivilege[]>;
  bots: Record<string, DvBot>;
}

/** Platform tables whose privileges the identity routes check (the governance tables' metadata is in dataverse-tables). */
export const SYSTEM_TABLES: TableInfo[] = [
  { logicalName: "bot", schemaName: "bot", ownershipType: "UserOwned" },
  { logicalName: "systemuser", schemaName: "SystemUser", ownershipType: "OrganizationOwned" },
  { logicalName: "role", schemaName: "Role", ownershipType: "OrganizationOwned" },
];

/** Copilot Studio agents in every authentication mode; the schema names match the sample config. */
const SEED_BOTS: Array<Pick<DvBot, "name" | "schemaname" | "authenticationmode" | "authenticationtrigger">> = [
  { name: "Contoso KB Assistant", schemaname: "contoso_kbAssistant", authenticationmode: 2, authenticationtrigger: 1 },
  { name: "Contoso HR Helper", schemaname: "contoso_hrHelper", authenticationmode: 3, authenticationtrigger: 1 },
  { name: "Contoso Research Agent", schemaname: "contoso_researchAgent", authenticationmode: 4, authenticationtrigger: 1 },
  { name: "Contoso Legacy Bot", schemaname: "contoso_legacyBot", authenticationmode: 1, authenticationtrigger: 0 },
  { name: "Contoso Open Helper", schemaname: "contoso_openHelper", authenticationmode: 2, authenticationtrigger: 0 },
  { name: "Contoso Old Bot", schemaname: "contoso_oldBot", authenticationmode: 0, authenticationtrigger: 0 },
];

/** A table's eight privileges, named from its SchemaName; organization-owned tables allow Global only. */
function newPrivileges(t: TableInfo): DvPrivilege[] {
  const user = t.ownershipType === "UserOwned";
  return PRIVILEGE_TYPES.map((type) => ({
    PrivilegeId: randomUUID(),
    Name: `prv${type}${t.schemaName}`,
    PrivilegeType: type,
    CanBeBasic: user,
    CanBeLocal: user,
    CanBeDeep: user,
    CanBeGlobal: true,
    CanBeEntityReference: false,
    CanBeParentEntityReference: false,
  }));
}

/** The table's privileges, created on first sight and kept (ids must not change between reads). */
export function privilegesOf(dv: DataverseIdentityState, t: TableInfo): DvPrivilege[] {
  const known = dv.privileges[t.logicalName];
  if (known && known[0]?.Name === `prv${PRIVILEGE_TYPES[0]}${t.schemaName}`) return known;
  return (dv.privileges[t.logicalName] = newPrivileges(t));
}

function seed(state: TenantState): DataverseIdentityState {
  const root = randomUUID();
  // System Administrator passes every privilege check (see heldDepth); its own list stays empty.
  const sysadmin: DvRole = { roleid: randomUUID(), name: "System Administrator", businessunitid: root, roletemplateid: SYSTEM_ADMINISTRATOR_TEMPLATE, ismanaged: true, privileges: {} };
  // Basic User lets the reader app sign in and read metadata, and nothing the gateway reads.
  const basic: DvRole = { roleid: randomUUID(), name: "Basic User", businessunitid: root, roletemplateid: "d58407f2-48d5-e711-a82c-000d3a37c848", ismanaged: true, privileges: {} };
  const appUser = (appId: string, objectId: string, name: string, roleId: string): DvUser => ({
    systemuserid: randomUUID(),
    applicationid: appId,
    azureactivedirectoryobjectid: objectId,
    firstname: "#",
    lastname: name,
    fullname: `# ${name}`,
    isdisabled: false,
    businessunitid: root,
    roleIds: [roleId],
  });
  const { operator, reader, contributor } = state.apps;
  // The contributor app is an environment admin here, so what stops it is its Azure role alone.
  const users = [
    appUser(operator.clientId, operator.objectId, operator.displayName, sysadmin.roleid),
    appUser(reader.clientId, reader.objectId, reader.displayName, basic.roleid),
    appUser(contributor.clientId, contributor.objectId, contributor.displayName, sysadmin.roleid),
  ];
  const bots = SEED_BOTS.map((b): DvBot => ({ ...b, botid: randomUUID(), statecode: 0, statuscode: 1 }));
  return {
    organizationId: randomUUID(),
    rootBusinessUnitId: root,
    businessUnits: { [root]: { businessunitid: root, name: "org-aeg-sandbox", parentbusinessunitid: null } },
    users: Object.fromEntries(users.map((u) => [u.systemuserid, u])),
    roles: { [sysadmin.roleid]: sysadmin, [basic.roleid]: basic },
    privileges: {},
    bots: Object.fromEntries(bots.map((b) => [b.botid, b])),
  };
}

export function dataverseState(state: TenantState): DataverseIdentityState {
  return (state.dataverseIdentity ??= seed(state));
}

export function findPrivilege(dv: DataverseIdentityState, id: string): { logicalName: string; privilege: DvPrivilege } | undefined {
  for (const [logicalName, list] of Object.entries(dv.privileges)) {
    const privilege = list.find((p) => p.PrivilegeId.toLowerCase() === id.toLowerCase());
    if (privilege) return { logicalName, privilege };
  }
  return undefined;
}

export function userByApplicationId(dv: DataverseIdentityState, appId: string): DvUser | undefined {
  return Object.values(dv.users).find((u) => u.applicationid?.toLowerCase() === appId.toLowerCase());
}

export function isSystemAdministrator(dv: DataverseIdentityState, user: DvUser): boolean {
  return user.roleIds.some((r) => dv.roles[r]?.roletemplateid === SYSTEM_ADMINISTRATOR_TEMPLATE);
}

/** The deepest depth at which any of the user's roles holds the privilege, or -1. */
export function heldDepth(dv: DataverseIdentityState, user: DvUser, privilegeId: string): number {
  if (isSystemAdministrator(dv, user)) return 3;
  return Math.max(-1, ...user.roleIds.map((r) => dv.roles[r]?.privileges[privilegeId] ?? -1));
}
