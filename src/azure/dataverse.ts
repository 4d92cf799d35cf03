import type { TokenCredential } from "@azure/core-auth";
import { RequestCounter } from "./arm.js";
import { statusOf } from "./errors.js";
import { ServiceClient, type RetryOptions, type ServiceResponse } from "./service-pipeline.js";

/** Dataverse error codes aeg reacts to (reference: dataverse-web-api.md §2). */
export const DUPLICATE_RECORD = "0x80040237";
export const OBJECT_DOES_NOT_EXIST = "0x80040217";
/** The role every write of step 5 needs, named in permission errors. */
export const SYSTEM_ADMINISTRATOR_TEMPLATE = "627090ff-40a3-4053-8790-584edc5be201";

export interface ApplicationUser {
  systemuserid: string;
  applicationid: string;
  isdisabled: boolean;
  fullname?: string;
  _businessunitid_value: string;
}

export interface SecurityRole {
  roleid: string;
  name: string;
  _businessunitid_value: string;
  _roletemplateid_value?: string | null;
}

export interface TablePrivilege {
  PrivilegeId: string;
  Name: string;
  PrivilegeType: string;
  CanBeGlobal: boolean;
}

export interface TableDefinition {
  LogicalName: string;
  SchemaName: string;
  EntitySetName: string;
  Privileges: TablePrivilege[];
}

export interface RolePrivilege {
  PrivilegeId: string;
  PrivilegeName?: string | null;
  /** A depth name (Basic, Local, Deep, Global), or a number from some clients' answers. */
  Depth: string | number;
}

/** A column as the metadata API returns it (the fields aeg compares). */
export interface AttributeMetadata {
  LogicalName: string;
  AttributeType: string;
  MaxLength?: number;
  IsPrimaryName?: boolean;
  OptionSet?: { Options?: Array<{ Value: number }> } | null;
}

export interface EntityKeyMetadata {
  SchemaName: string;
  LogicalName: string;
  KeyAttributes: string[];
  EntityKeyIndexStatus: string;
}

/** A table with its columns and alternate keys. */
export interface TableMetadata {
  LogicalName: string;
  SchemaName: string;
  EntitySetName: string;
  OwnershipType: string;
  Attributes: AttributeMetadata[];
  Keys: EntityKeyMetadata[];
}

export interface BotRow {
  botid: string;
  name: string;
  schemaname: string;
  authenticationmode: number | null;
  authenticationtrigger: number | null;
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const q = (params: Record<string, string>) => "?" + Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");

/** The Dataverse Web API calls aeg makes, typed; one environment per client. */
export class DataverseClient {
  private readonly service: ServiceClient;

  constructor(readonly environmentUrl: string, credential: TokenCredential, counter?: RequestCounter, retry?: Partial<RetryOptions>) {
    const base = environmentUrl.replace(/\/+$/, "");
    this.service = new ServiceClient(`${base}/api/data/v9.2`, credential, `${base}/.default`, counter, retry, { "OData-MaxVersion": "4.0", "OData-Version": "4.0" });
  }

  get counter(): RequestCounter {
    return this.service.counter;
  }

  private async list<T>(path: string): Promise<T[]> {
    return ((await this.service.send("GET", path)).body as { value: T[] }).value;
  }

  async whoAmI(): Promise<{ UserId: string; BusinessUnitId: string; OrganizationId: string }> {
    return (await this.service.send("GET", "/WhoAmI")).body as { UserId: string; BusinessUnitId: string; OrganizationId: string };
  }

  /** The `x-ms-dop-hint` on a WhoAmI answer: how many requests at once Dataverse recommends (as Microsoft's samples read it). */
  async recommendedParallelism(): Promise<number | undefined> {
    const hint = Number((await this.service.send("GET", "/WhoAmI")).headers.get("x-ms-dop-hint"));
    return Number.isInteger(hint) && hint > 0 ? hint : undefined;
  }

  async rootBusinessUnit(): Promise<string> {
    const [root] = await this.list<{ businessunitid: string }>(`/businessunits${q({ $select: "businessunitid,name", $filter: "_parentbusinessunitid_value eq null" })}`);
    if (!root) throw new Error("Dataverse returned no root business unit");
    return root.businessunitid;
  }

  async applicationUser(appId: string): Promise<ApplicationUser | undefined> {
    const [user] = await this.list<ApplicationUser>(`/systemusers${q({ $select: "systemuserid,applicationid,isdisabled,fullname,_businessunitid_value", $filter: `applicationid eq ${appId}` })}`);
    return user;
  }

  /** Creates the application user; returns its id (from OData-EntityId: a 204 has no body). */
  async createApplicationUser(appId: string, businessUnitId: string, lastName: string): Promise<string> {
    const res = await this.service.send("POST", "/systemusers", { applicationid: appId, "businessunitid@odata.bind": `/businessunits(${businessUnitId})`, firstname: "#", lastname: lastName });
    return entityId(res.headers.get("odata-entityid"));
  }

  async setUserDisabled(userId: string, disabled: boolean): Promise<void> {
    await this.service.send("PATCH", `/systemusers(${userId})`, { isdisabled: disabled });
  }

  async userRoles(userId: string): Promise<SecurityRole[]> {
    return this.list<SecurityRole>(`/systemusers(${userId})/systemuserroles_association${q({ $select: "roleid,name,_businessunitid_value,_roletemplateid_value" })}`);
  }

  async role(name: string, businessUnitId: string): Promise<SecurityRole | undefined> {
    // Names are not unique: every business unit holds a copy, so filter on the unit too.
    const [role] = await this.list<SecurityRole>(`/roles${q({ $select: "roleid,name,_businessunitid_value", $filter: `name eq ${lit(name)} and _businessunitid_value eq ${businessUnitId}` })}`);
    return role;
  }

  async createRole(name: string, businessUnitId: string, description: string): Promise<string> {
    const res = await this.service.send("POST", "/roles", { name, description, "businessunitid@odata.bind": `/businessunits(${businessUnitId})` });
    return entityId(res.headers.get("odata-entityid"));
  }

  /** A table by its entity set name (what a policy's URL names), with its privileges. */
  async tableByEntitySet(entitySet: string): Promise<TableDefinition | undefined> {
    const [table] = await this.list<TableDefinition>(`/EntityDefinitions${q({ $select: "LogicalName,SchemaName,EntitySetName,Privileges", $filter: `EntitySetName eq ${lit(entitySet)}` })}`);
    return table;
  }

  async tableByLogicalName(logicalName: string): Promise<TableDefinition | undefined> {
    const [table] = await this.list<TableDefinition>(`/EntityDefinitions${q({ $select: "LogicalName,SchemaName,EntitySetName,Privileges", $filter: `LogicalName eq ${lit(logicalName)}` })}`);
    return table;
  }

  /** A table with its columns and keys; undefined when it does not exist (404 0x80040217). */
  async tableMetadata(logicalName: string): Promise<TableMetadata | undefined> {
    const table = `EntityDefinitions(LogicalName=${lit(logicalName)})`;
    let body: TableMetadata;
    try {
      body = (await this.service.send("GET", `/${table}?$select=LogicalName,SchemaName,EntitySetName,OwnershipType&$expand=Attributes,Keys`)).body as TableMetadata;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
    // Dataverse returns a choice column's options only through a cast with $expand (§6).
    if (body.Attributes.some((a) => a.AttributeType === "Picklist" && !a.OptionSet)) {
      const picklists = await this.list<AttributeMetadata>(`/${table}/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet`);
      for (const p of picklists) {
        const a = body.Attributes.find((x) => x.LogicalName === p.LogicalName);
        if (a) a.OptionSet = p.OptionSet ?? null;
      }
    }
    return body;
  }

  async createTable(body: Record<string, unknown>): Promise<void> {
    await this.service.send("POST", "/EntityDefinitions", body);
  }

  async createAttribute(tableLogicalName: string, body: Record<string, unknown>): Promise<void> {
    await this.service.send("POST", `/EntityDefinitions(LogicalName=${lit(tableLogicalName)})/Attributes`, body);
  }

  async createKey(tableLogicalName: string, body: Record<string, unknown>): Promise<void> {
    await this.service.send("POST", `/EntityDefinitions(LogicalName=${lit(tableLogicalName)})/Keys`, body);
  }

  /** POSTs a `$batch` multipart body as is; the caller builds and reads the parts. */
  /** Rows of an entity set whose string column equals a value (e.g. decision-log rows by correlation id). */
  async rowsWhere<T>(entitySet: string, column: string, value: string, select: string[]): Promise<T[]> {
    return this.list<T>(`/${entitySet}${q({ $select: select.join(","), $filter: `${column} eq ${lit(value)}` })}`);
  }

  async batch(body: string, boundary: string, headers: Record<string, string> = {}): Promise<ServiceResponse> {
    return this.service.sendText("POST", "/$batch", { text: body, contentType: `multipart/mixed; boundary=${boundary}` }, headers);
  }

  /** The bulk `UpsertMultiple` action on an entity set: one request for all `targets` (204 on success). */
  async upsertMultiple(entitySet: string, targets: Array<Record<string, unknown>>, headers: Record<string, string> = {}): Promise<ServiceResponse> {
    return this.service.send("POST", `/${entitySet}/Microsoft.Dynamics.CRM.UpsertMultiple`, { Targets: targets }, headers);
  }

  async rolePrivileges(roleId: string): Promise<RolePrivilege[]> {
    // The unbound function: the bound form is reported not to work everywhere (reference §4.4).
    const res = await this.service.send("GET", `/RetrieveRolePrivilegesRole(RoleId=@p)?@p=${roleId}`);
    return (res.body as { RolePrivileges: RolePrivilege[] }).RolePrivileges;
  }

  async addPrivileges(roleId: string, privileges: Array<{ PrivilegeId: string; Depth: string }>, businessUnitId: string): Promise<void> {
    await this.service.send("POST", `/roles(${roleId})/Microsoft.Dynamics.CRM.AddPrivilegesRole`, { Privileges: privileges.map((p) => ({ ...p, BusinessUnitId: businessUnitId })) });
  }

  async removePrivilege(roleId: string, privilegeId: string): Promise<void> {
    await this.service.send("POST", `/roles(${roleId})/Microsoft.Dynamics.CRM.RemovePrivilegeRole`, { Privilege: { "@odata.type": "Microsoft.Dynamics.CRM.privilege", privilegeid: privilegeId } });
  }

  /** The users who hold a role (the same N:N link, read from the role's side). */
  async roleHolders(roleId: string): Promise<string[]> {
    return (await this.list<{ systemuserid: string }>(`/roles(${roleId})/systemuserroles_association${q({ $select: "systemuserid" })}`)).map((u) => u.systemuserid);
  }

  /** Removes one role from a user (the N:N link; the role itself stays). */
  async unassignRole(userId: string, roleId: string): Promise<void> {
    await this.service.send("DELETE", `/systemusers(${userId})/systemuserroles_association(${roleId})/$ref`);
  }

  /** Deletes a custom security role; Dataverse removes it from every user who holds it. */
  async deleteRole(roleId: string): Promise<void> {
    await this.service.send("DELETE", `/roles(${roleId})`);
  }

  async assignRole(userId: string, roleId: string): Promise<void> {
    await this.service.send("POST", `/systemusers(${userId})/systemuserroles_association/$ref`, { "@odata.id": `${this.service.baseUrl}/roles(${roleId})` });
  }

  async bot(schemaName: string): Promise<BotRow | undefined> {
    const [bot] = await this.list<BotRow>(`/bots${q({ $select: "botid,name,schemaname,authenticationmode,authenticationtrigger", $filter: `schemaname eq ${lit(schemaName)}` })}`);
    return bot;
  }
}

function entityId(header: string | undefined): string {
  const id = /\(([0-9a-fA-F-]{36})\)\s*$/.exec(header ?? "")?.[1];
  if (!id) throw new Error(`Dataverse did not return the new record's id (OData-EntityId: ${header ?? "missing"})`);
  return id.toLowerCase();
}
