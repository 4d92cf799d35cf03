// The Dataverse Web API stand-in for identity and security (dataverse listener): WhoAmI, business
// units, application users, security roles and their privileges, role assignment, table metadata
// with privileges, and Copilot Studio `bot` rows. State lives in TenantState.dataverseIdentity (on
// disk). Writes need System Administrator, as the platform's own privilege checks would demand.
import { randomUUID } from "node:crypto";
import { header, json, type Reply, type Req, type Router } from "../http.js";
import type { EntraContext, TokenClaims } from "../entra.js";
import type { TenantState } from "../store.js";
import { DATA_PATH, dataverseError, type DataverseGate } from "./dataverse.js";
import { ODataError, PARSE_ERROR, checkFilter, matches, parseFilter, parseSelect, parseTop, type ColumnType, type FilterNode } from "./odata.js";
import {
  DEPTHS,
  SYSTEM_TABLES,
  dataverseState,
  findPrivilege,
  privilegesOf,
  heldDepth,
  isSystemAdministrator,
  userByApplicationId,
  type DataverseIdentityState,
  type DvRole,
  type DvUser,
  type TableInfo,
} from "./dataverse-identity-state.js";

const GUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
const KEYED = new RegExp(`^(systemusers|roles)\\((${GUID})\\)$`);

/** The sets this module serves, with their columns (names are case-sensitive, as in Dataverse). */
const SETS: Record<string, { logicalName: string; key: string; columns: Record<string, ColumnType> }> = {
  businessunits: { logicalName: "businessunit", key: "businessunitid", columns: { businessunitid: "Guid", name: "String", _parentbusinessunitid_value: "Guid" } },
  systemusers: {
    logicalName: "systemuser",
    key: "systemuserid",
    columns: { systemuserid: "Guid", applicationid: "Guid", azureactivedirectoryobjectid: "Guid", isdisabled: "Boolean", fullname: "String", firstname: "String", lastname: "String", _businessunitid_value: "Guid" },
  },
  roles: { logicalName: "role", key: "roleid", columns: { roleid: "Guid", name: "String", description: "String", ismanaged: "Boolean", _businessunitid_value: "Guid", _roletemplateid_value: "Guid" } },
  privileges: { logicalName: "privilege", key: "privilegeid", columns: { privilegeid: "Guid", name: "String" } },
  bots: { logicalName: "bot", key: "botid", columns: { botid: "Guid", name: "String", schemaname: "String", authenticationmode: "Int32", authenticationtrigger: "Int32", statecode: "Int32", statuscode: "Int32" } },
};

/** The environment's tables as the security model needs them; the metadata itself lives in dataverse-tables. */
export interface TableCatalog {
  byLogicalName(name: string): TableInfo | undefined;
  all(): TableInfo[];
}

/** The catalog of the metadata module's tables plus the platform tables the identity routes guard. */
export function tableCatalog(tables: { all(): TableInfo[] }): TableCatalog {
  const all = () => [...tables.all().map((t) => ({ logicalName: t.logicalName, schemaName: t.schemaName, ownershipType: t.ownershipType })), ...SYSTEM_TABLES];
  return { all, byLogicalName: (name) => all().find((t) => t.logicalName === name) };
}

/** EntityMetadata.Privileges for a table, for the metadata module's `extras`. */
export function privilegesProperty(state: TenantState) {
  return (t: TableInfo): Record<string, unknown> => ({ Privileges: privilegesOf(dataverseState(state), t) });
}

/** Reads and writes served since the last reset, so tests can prove a re-run writes nothing. */
export interface IdentityCounters {
  reads: number;
  writes: number;
}

export function registerDataverseIdentity(router: Router<unknown>, entra: EntraContext, gate: DataverseGate, catalog: TableCatalog, counters: IdentityCounters): void {
  const serve = (h: (req: Req, caller: Caller) => Reply | Promise<Reply>) =>
    gate(async (req, claims) => {
      const dv = dataverseState(entra.state);
      const denied = callerDenied(dv, claims);
      if (denied) return denied;
      if (req.method === "GET") counters.reads++;
      else counters.writes++;
      const caller: Caller = { dv, user: userByApplicationId(dv, appIdOf(claims))!, base: req.base, principals: entra.state.principals, catalog };
      try {
        return await h(req, caller);
      } catch (e) {
        if (e instanceof ODataError) return dataverseError(400, e.code, e.message);
        throw e;
      }
    });
  router.add("GET", "/_sandbox/identity/requests", () => json(200, counters));
  router.add("POST", "/_sandbox/identity/requests/reset", () => {
    counters.reads = 0;
    counters.writes = 0;
    return json(200, counters);
  });
  for (const set of Object.keys(SETS)) router.add("GET", `${DATA_PATH}/${set}`, serve((req, c) => (req.path.endsWith(`/${set}`) ? list(req, c, set) : unknownSegment(req))));
  router.add("POST", `${DATA_PATH}/systemusers`, serve(createUser));
  router.add("POST", `${DATA_PATH}/roles`, serve(createRole));
  router.add("POST", `${DATA_PATH}/WhoAmI`, () => dataverseError(404, "", `No HTTP resource was found that matches the request URI '${DATA_PATH}/WhoAmI'.`));
  // Keyed segments (`systemusers(<id>)`, `RetrieveRolePrivilegesRole(RoleId=…)`, …) share their
  // one-segment shape with the governance tables' route, so they match only what they own.
  router.add("GET", `${DATA_PATH}/{segment}`, serve(getKeyed), undefined, (path) => /^(WhoAmI(\(\))?|RetrieveRolePrivilegesRole\(.*\)|(systemusers|roles)\(.*\))$/.test(lastSegment(path)));
  router.add("PATCH", `${DATA_PATH}/{segment}`, serve(patchUser), undefined, (path) => lastSegment(path).startsWith("systemusers("));
  router.add("DELETE", `${DATA_PATH}/{segment}`, serve(deleteRole), undefined, (path) => lastSegment(path).startsWith("roles("));
  router.add("GET", `${DATA_PATH}/{entity}/systemuserroles_association`, serve(userRoles));
  router.add(["POST", "DELETE"], `${DATA_PATH}/{entity}/systemuserroles_association/$ref`, serve(associate));
  router.add("DELETE", `${DATA_PATH}/{entity}/{nav}/$ref`, serve(associate));
  router.add("POST", `${DATA_PATH}/{entity}/Microsoft.Dynamics.CRM.AddPrivilegesRole`, serve(addPrivileges));
  router.add("POST", `${DATA_PATH}/{entity}/Microsoft.Dynamics.CRM.RemovePrivilegeRole`, serve(removePrivilege));
  router.add("GET", `${DATA_PATH}/{entity}/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()`, serve((req, c) => rolePrivileges(c, roleFromSegment(c, req.params["entity"]!))));
}

function lastSegment(path: string): string {
  return decodeURIComponent(path.split("/").pop() ?? "");
}

interface Caller {
  dv: DataverseIdentityState;
  user: DvUser;
  base: string;
  principals: TenantState["principals"];
  catalog: TableCatalog;
}

function appIdOf(claims: TokenClaims): string {
  return String(claims.appid ?? claims.azp ?? "");
}

/** Why a token's principal may not use the org at all (no user, or a disabled one), else undefined. */
export function callerDenied(dv: DataverseIdentityState, claims: TokenClaims): Reply | undefined {
  const user = userByApplicationId(dv, appIdOf(claims));
  if (!user) return dataverseError(403, "0x80072560", "The user is not a member of the organization.");
  if (user.isdisabled) {
    // The platform's status for this is unverified (reference §1); an auth failure is the safe reading.
    return dataverseError(403, "0x80040225", `The user with SystemUserId=${user.systemuserid} in OrganizationContext=${dv.organizationId} is disabled. Disabled users cannot access the system. Consider enabling this user.`);
  }
  return undefined;
}

/** 403 0x80040220 unless the caller holds the table's privilege (any depth). */
export function privilegeDenied(dv: DataverseIdentityState, catalog: TableCatalog, user: DvUser, logicalName: string, type: "Read" | "Create" | "Write"): Reply | undefined {
  const table = catalog.byLogicalName(logicalName);
  const privilege = table && privilegesOf(dv, table).find((p) => p.PrivilegeType === type);
  if (!privilege || heldDepth(dv, user, privilege.PrivilegeId) >= 0) return undefined;
  const roleCount = user.roleIds.length;
  return dataverseError(
    403,
    "0x80040220",
    `Principal user (Id=${user.systemuserid}, type=8, roleCount=${roleCount}, privilegeCount=0, accessMode=4), is missing ${privilege.Name} privilege (Id=${privilege.PrivilegeId}) on OTC=10000 for entity '${logicalName}'. context.Caller=${user.systemuserid}`,
  );
}

/** Reads of the governance tables (the seam in dataverse.ts): the caller's roles must grant Read. */
export function authorizeTableRead(entra: EntraContext, catalog: TableCatalog, claims: TokenClaims, logicalName: string): Reply | undefined {
  const dv = dataverseState(entra.state);
  return callerDenied(dv, claims) ?? privilegeDenied(dv, catalog, userByApplicationId(dv, appIdOf(claims))!, logicalName, "Read");
}

function requireAdmin(c: Caller, privilege: string): Reply | undefined {
  if (isSystemAdministrator(c.dv, c.user)) return undefined;
  return dataverseError(
    403,
    "0x80040220",
    `Principal user (Id=${c.user.systemuserid}, type=8, roleCount=${c.user.roleIds.length}, privilegeCount=0, accessMode=4), is missing ${privilege} privilege. Consider adding the System Administrator role.`,
  );
}

function unknownSegment(req: Req): Reply {
  return dataverseError(404, "0x8006088a", `Resource not found for the segment '${lastSegment(req.path)}'.`);
}

function notFound(entity: string, id: string): Reply {
  return dataverseError(404, "0x80040217", `${entity} With Id = ${id} Does Not Exist`);
}

function rowsOf(c: Caller, set: string): Record<string, unknown>[] {
  const { dv } = c;
  switch (set) {
    case "businessunits":
      return Object.values(dv.businessUnits).map((b) => ({ businessunitid: b.businessunitid, name: b.name, _parentbusinessunitid_value: b.parentbusinessunitid }));
    case "systemusers":
      return Object.values(dv.users).map(userRow);
    case "roles":
      return Object.values(dv.roles).map(roleRow);
    case "privileges":
      return c.catalog.all().flatMap((t) => privilegesOf(dv, t).map((p) => ({ privilegeid: p.PrivilegeId, name: p.Name })));
    default:
      return Object.values(dv.bots) as unknown as Record<string, unknown>[];
  }
}

function userRow(u: DvUser): Record<string, unknown> {
  const { roleIds: _roles, businessunitid, ...rest } = u;
  return { ...rest, _businessunitid_value: businessunitid };
}

function roleRow(r: DvRole): Record<string, unknown> {
  return { roleid: r.roleid, name: r.name, description: r.description ?? null, ismanaged: r.ismanaged, _businessunitid_value: r.businessunitid, _roletemplateid_value: r.roletemplateid };
}

/** GET on a set: $select, $filter, $top, and $expand=systemuserroles_association on systemusers. */
function list(req: Req, c: Caller, set: string): Reply {
  const def = SETS[set]!;
  if (set === "bots") {
    const denied = privilegeDenied(c.dv, c.catalog, c.user, "bot", "Read");
    if (denied) return denied;
  }
  let filter: FilterNode | undefined;
  for (const k of req.query.keys()) {
    if (k.startsWith("$") && !["$select", "$filter", "$top", "$expand"].includes(k)) throw new ODataError(PARSE_ERROR, `The query option '${k}' is not supported by the sandbox Dataverse.`);
  }
  const f = req.query.get("$filter");
  if (f !== null) {
    filter = parseFilter(f);
    checkFilter(filter, def.columns, def.logicalName);
  }
  const select = parseSelect(req.query.get("$select"), def.columns, def.logicalName);
  const top = parseTop(req.query.get("$top"));
  const expand = req.query.get("$expand");
  if (expand !== null && !(set === "systemusers" && /^systemuserroles_association(\(.*\))?$/.test(expand))) {
    throw new ODataError(PARSE_ERROR, `Could not find a property named '${expand.split("(")[0]}' on type 'Microsoft.Dynamics.CRM.${def.logicalName}'.`);
  }
  let rows = rowsOf(c, set).filter((r) => !filter || matches(filter, r));
  if (top !== undefined) rows = rows.slice(0, top);
  const value = rows.map((r) => {
    const out = shape(r, def.key, select, true);
    if (expand !== null) out["systemuserroles_association"] = c.dv.users[String(r["systemuserid"])]!.roleIds.map((id) => roleRow(c.dv.roles[id]!));
    return out;
  });
  return ok({ "@odata.context": `${c.base}${DATA_PATH}/$metadata#${set}${select ? `(${select.join(",")})` : ""}`, value });
}

function shape(row: Record<string, unknown>, key: string, select: string[] | undefined, etag: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = etag ? { "@odata.etag": `W/"${1_000_000 + (JSON.stringify(row).length % 9_000_000)}"` } : {};
  const cols = select ? [...select.filter((s) => s !== key), key] : Object.keys(row);
  for (const col of cols) out[col] = row[col] ?? null;
  return out;
}

function ok(body: unknown): Reply {
  return json(200, body, { "OData-Version": "4.0", "Content-Type": "application/json; odata.metadata=minimal" });
}

function created(c: Caller, set: string, id: string, req: Req, body: Record<string, unknown>): Reply {
  if (/return=representation/i.test(header(req, "prefer") ?? "")) {
    return json(201, { "@odata.context": `${c.base}${DATA_PATH}/$metadata#${set}/$entity`, ...body }, { "OData-Version": "4.0", "Preference-Applied": "return=representation" });
  }
  return { status: 204, headers: { "OData-Version": "4.0", "OData-EntityId": `${c.base}${DATA_PATH}/${set}(${id})` } };
}

/** `/businessunits(<guid>)` from an @odata.bind value, or undefined when it does not name one. */
function boundBusinessUnit(c: Caller, body: Record<string, unknown>): string | undefined {
  const bind = body["businessunitid@odata.bind"];
  const m = typeof bind === "string" ? new RegExp(`(?:^|/)businessunits\\((${GUID})\\)$`).exec(bind) : null;
  return m && c.dv.businessUnits[m[1]!.toLowerCase()] ? m[1]!.toLowerCase() : undefined;
}

function createUser(req: Req, c: Caller): Reply {
  const denied = requireAdmin(c, "prvCreateUser");
  if (denied) return denied;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const wrongBind = Object.keys(body).find((k) => k.endsWith("@odata.bind") && k !== "businessunitid@odata.bind");
  if (wrongBind) return dataverseError(400, "0x80048d19", `Error identified in Payload provided by the user for Entity :'systemusers', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : Microsoft.OData.ODataException: An undeclared property '${wrongBind.split("@")[0]}' which only has property annotations in the payload but no property value was found in the payload.`);
  const bu = boundBusinessUnit(c, body);
  if (!bu) return dataverseError(400, "0x80040530", "Unable to retrieve attribute=businessunitid for entityLogicalName=systemuser.");
  const appId = typeof body["applicationid"] === "string" ? body["applicationid"].toLowerCase() : null;
  if (appId && !new RegExp(`^${GUID}$`).test(appId)) return dataverseError(400, "0x0", `Cannot convert the literal '${appId}' to the expected type 'Edm.Guid'.`);
  if (appId && userByApplicationId(c.dv, appId)) return dataverseError(412, "0x80040237", "A record with matching key values already exists.");
  const first = typeof body["firstname"] === "string" ? body["firstname"] : "#";
  const last = typeof body["lastname"] === "string" ? body["lastname"] : appId ?? "user";
  // Dataverse fills the Entra object id in from the directory.
  const principal = appId ? Object.values(c.principals).find((p) => p.appId.toLowerCase() === appId)?.objectId : undefined;
  const user: DvUser = {
    systemuserid: randomUUID(),
    applicationid: appId,
    azureactivedirectoryobjectid: principal ?? null,
    firstname: first,
    lastname: last,
    fullname: `${first} ${last}`.trim(),
    isdisabled: false, // application users are created enabled
    businessunitid: bu,
    roleIds: [],
  };
  c.dv.users[user.systemuserid] = user;
  return created(c, "systemusers", user.systemuserid, req, userRow(user));
}

function createRole(req: Req, c: Caller): Reply {
  const denied = requireAdmin(c, "prvCreateRole");
  if (denied) return denied;
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (typeof body["name"] !== "string" || !body["name"].trim()) return dataverseError(400, "0x80040203", "Role name is required.");
  const bu = boundBusinessUnit(c, body);
  if (!bu) return dataverseError(400, "0x80060888", "A businessunitid@odata.bind of the form /businessunits(<guid>) is required.");
  const description = typeof body["description"] === "string" ? body["description"] : null;
  const role: DvRole = { roleid: randomUUID(), name: body["name"], description, businessunitid: bu, roletemplateid: null, ismanaged: false, privileges: {} };
  c.dv.roles[role.roleid] = role;
  return created(c, "roles", role.roleid, req, roleRow(role));
}

/** GET of a keyed segment: a user, a role, WhoAmI or RetrieveRolePrivilegesRole. */
function getKeyed(req: Req, c: Caller): Reply {
  const seg = lastSegment(req.path);
  if (seg === "WhoAmI" || seg === "WhoAmI()") {
    return ok({ "@odata.context": `${c.base}${DATA_PATH}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`, BusinessUnitId: c.user.businessunitid, UserId: c.user.systemuserid, OrganizationId: c.dv.organizationId });
  }
  const fn = /^RetrieveRolePrivilegesRole\(RoleId=(.+)\)$/.exec(seg);
  if (fn) {
    const arg = fn[1]!.startsWith("@") ? req.query.get(fn[1]!) ?? "" : fn[1]!;
    return rolePrivileges(c, c.dv.roles[arg.toLowerCase()] ?? arg);
  }
  const keyed = KEYED.exec(seg);
  if (!keyed) return unknownSegment(req);
  const id = keyed[2]!.toLowerCase();
  if (keyed[1] === "systemusers") return c.dv.users[id] ? ok(shape(userRow(c.dv.users[id]!), "systemuserid", parseSelect(req.query.get("$select"), SETS["systemusers"]!.columns, "systemuser"), true)) : notFound("systemuser", id);
  return c.dv.roles[id] ? ok(shape(roleRow(c.dv.roles[id]!), "roleid", parseSelect(req.query.get("$select"), SETS["roles"]!.columns, "role"), true)) : notFound("role", id);
}

/** PATCH systemusers(<id>): only `isdisabled` (and names) may change here. */
function patchUser(req: Req, c: Caller): Reply {
  const keyed = KEYED.exec(lastSegment(req.path));
  if (!keyed || keyed[1] !== "systemusers") return unknownSegment(req);
  const denied = requireAdmin(c, "prvWriteUser");
  if (denied) return denied;
  const user = c.dv.users[keyed[2]!.toLowerCase()];
  if (!user) return notFound("systemuser", keyed[2]!);
  const body = (req.body ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) {
    if (k === "isdisabled" && typeof v === "boolean") user.isdisabled = v;
    else if ((k === "firstname" || k === "lastname") && typeof v === "string") user[k] = v;
    else return dataverseError(400, "0x0", `Could not find a property named '${k}' on type 'Microsoft.Dynamics.CRM.systemuser'.`);
  }
  user.fullname = `${user.firstname ?? ""} ${user.lastname ?? ""}`.trim();
  return { status: 204, headers: { "OData-Version": "4.0", "OData-EntityId": `${c.base}${DATA_PATH}/systemusers(${user.systemuserid})` } };
}

/**
 * DELETE roles(<id>): a custom role goes, and with it every user's assignment of it. Managed and
 * system roles (System Administrator, Basic User) cannot be deleted.
 */
function deleteRole(req: Req, c: Caller): Reply {
  const keyed = KEYED.exec(lastSegment(req.path));
  if (!keyed || keyed[1] !== "roles") return unknownSegment(req);
  const denied = requireAdmin(c, "prvDeleteRole");
  if (denied) return denied;
  const role = c.dv.roles[keyed[2]!.toLowerCase()];
  if (!role) return notFound("role", keyed[2]!);
  if (role.ismanaged || role.roletemplateid) return dataverseError(400, "0x80040203", `Cannot delete the role '${role.name}': it is a system role or part of a managed solution.`);
  for (const user of Object.values(c.dv.users)) user.roleIds = user.roleIds.filter((r) => r !== role.roleid);
  delete c.dv.roles[role.roleid];
  return { status: 204, headers: { "OData-Version": "4.0" } };
}

function userFromSegment(c: Caller, segment: string): DvUser | Reply {
  const keyed = KEYED.exec(segment);
  if (!keyed || keyed[1] !== "systemusers") return dataverseError(404, "0x8006088a", `Resource not found for the segment '${segment}'.`);
  return c.dv.users[keyed[2]!.toLowerCase()] ?? notFound("systemuser", keyed[2]!);
}

function roleFromSegment(c: Caller, segment: string): DvRole | string {
  const keyed = KEYED.exec(segment);
  return (keyed && keyed[1] === "roles" && c.dv.roles[keyed[2]!.toLowerCase()]) || segment;
}

/** The N:N link read from either side: a user's roles, or (`roles(<id>)/…`) the users holding a role. */
function userRoles(req: Req, c: Caller): Reply {
  const entity = req.params["entity"]!;
  if (/^roles\(/.test(entity)) return roleHolders(req, c, entity);
  const user = userFromSegment(c, entity);
  if ("status" in user) return user;
  const select = parseSelect(req.query.get("$select"), SETS["roles"]!.columns, "role");
  return ok({ "@odata.context": `${c.base}${DATA_PATH}/$metadata#roles`, value: user.roleIds.map((id) => shape(roleRow(c.dv.roles[id]!), "roleid", select, true)) });
}

function roleHolders(req: Req, c: Caller, segment: string): Reply {
  const role = roleFromSegment(c, segment);
  if (typeof role === "string") return KEYED.test(role) ? notFound("role", KEYED.exec(role)![2]!) : unknownSegment(req);
  const select = parseSelect(req.query.get("$select"), SETS["systemusers"]!.columns, "systemuser");
  const holders = Object.values(c.dv.users).filter((u) => u.roleIds.includes(role.roleid));
  return ok({ "@odata.context": `${c.base}${DATA_PATH}/$metadata#systemusers`, value: holders.map((u) => shape(userRow(u), "systemuserid", select, true)) });
}

/** POST/DELETE of the user↔role N:N link, in the `$ref` forms the Web API takes. */
function associate(req: Req, c: Caller): Reply {
  const user = userFromSegment(c, req.params["entity"]!);
  if ("status" in user) return user;
  const denied = requireAdmin(c, "prvAssignRole");
  if (denied) return denied;
  let ref: string;
  if (req.method === "POST") ref = String((req.body as Record<string, unknown> | undefined)?.["@odata.id"] ?? "");
  else ref = req.params["nav"] ? `roles${/\(.*\)$/.exec(req.params["nav"])?.[0] ?? ""}` : req.query.get("$id") ?? "";
  if (req.params["nav"] && !req.params["nav"].startsWith("systemuserroles_association(")) return dataverseError(404, "0x8006088a", `Resource not found for the segment '${req.params["nav"]}'.`);
  const m = new RegExp(`roles\\((${GUID})\\)$`).exec(ref);
  const role = m ? c.dv.roles[m[1]!.toLowerCase()] : undefined;
  if (!role) return dataverseError(400, "0x80060888", `The role reference '${ref}' does not name an existing role.`);
  const has = user.roleIds.includes(role.roleid);
  if (req.method === "POST") {
    if (has) return dataverseError(400, "0x80040237", "Cannot insert duplicate key.");
    if (role.businessunitid !== user.businessunitid) return dataverseError(400, "0x80040203", "The role must belong to the user's business unit.");
    user.roleIds.push(role.roleid);
  } else if (has) user.roleIds = user.roleIds.filter((r) => r !== role.roleid);
  return { status: 204, headers: { "OData-Version": "4.0" } };
}

function roleForAction(req: Req, c: Caller): DvRole | Reply {
  const role = roleFromSegment(c, req.params["entity"]!);
  if (typeof role === "string") return KEYED.test(role) ? notFound("role", role) : dataverseError(404, "0x8006088a", `Resource not found for the segment '${role}'.`);
  return role;
}

/** Depth as the action takes it: a name, a numeric string or a number. */
function parseDepth(v: unknown): number | undefined {
  if (typeof v === "number" && v >= 0 && v <= 3) return v;
  if (typeof v === "string") {
    if (/^[0-3]$/.test(v)) return Number(v);
    const i = DEPTHS.indexOf(v as (typeof DEPTHS)[number]);
    if (i >= 0) return i;
  }
  return undefined;
}

function addPrivileges(req: Req, c: Caller): Reply {
  const role = roleForAction(req, c);
  if ("status" in role) return role;
  const denied = requireAdmin(c, "prvWriteRole");
  if (denied) return denied;
  const list = (req.body as { Privileges?: unknown } | undefined)?.Privileges;
  if (!Array.isArray(list)) return dataverseError(400, "0x0", "The parameter 'Privileges' is required: a collection of Microsoft.Dynamics.CRM.RolePrivilege.");
  const updates: Array<[string, number]> = [];
  for (const item of list as Array<Record<string, unknown>>) {
    const found = findPrivilege(c.dv, String(item["PrivilegeId"] ?? ""));
    if (!found) return dataverseError(404, "0x80040217", `privilege With Id = ${String(item["PrivilegeId"])} Does Not Exist`);
    const depth = parseDepth(item["Depth"]);
    if (depth === undefined) return dataverseError(400, "0x0", `Invalid Depth '${String(item["Depth"])}': Basic, Local, Deep, Global or 0-3.`);
    const allowed = [found.privilege.CanBeBasic, found.privilege.CanBeLocal, found.privilege.CanBeDeep, found.privilege.CanBeGlobal][depth];
    if (!allowed) return dataverseError(403, "", `unManagedinvalidprivilegeedepth: depth ${DEPTHS[depth]} is not valid for ${found.privilege.Name}.`);
    updates.push([found.privilege.PrivilegeId, depth]);
  }
  for (const [id, depth] of updates) role.privileges[id] = depth; // an existing privilege's depth is updated in place
  return { status: 204, headers: { "OData-Version": "4.0" } };
}

function removePrivilege(req: Req, c: Caller): Reply {
  const role = roleForAction(req, c);
  if ("status" in role) return role;
  const denied = requireAdmin(c, "prvWriteRole");
  if (denied) return denied;
  const id = String(((req.body as { Privilege?: Record<string, unknown> } | undefined)?.Privilege ?? {})["privilegeid"] ?? "");
  const found = findPrivilege(c.dv, id);
  if (!found) return dataverseError(404, "0x80040217", `privilege With Id = ${id} Does Not Exist`);
  delete role.privileges[found.privilege.PrivilegeId];
  return { status: 204, headers: { "OData-Version": "4.0" } };
}

function rolePrivileges(c: Caller, role: DvRole | string): Reply {
  if (typeof role === "string") return notFound("role", role);
  const RolePrivileges = Object.entries(role.privileges).map(([id, depth]) => ({
    Depth: DEPTHS[depth],
    PrivilegeId: id,
    BusinessUnitId: role.businessunitid,
    PrivilegeName: findPrivilege(c.dv, id)?.privilege.Name ?? null,
  }));
  return ok({ "@odata.context": `${c.base}${DATA_PATH}/$metadata#Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRoleResponse`, RolePrivileges });
}
