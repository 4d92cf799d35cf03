// Table definitions behind the Dataverse metadata API (EntityDefinitions): what is stored for a
// custom table, how the EntityMetadata / AttributeMetadata / EntityKeyMetadata bodies a client
// POSTs become that record, and how the record is rendered back in Dataverse's JSON shapes.
// The two seeded governance tables are described here too (their rows stay in the seed).
import { randomUUID } from "node:crypto";
import { ODataError, PARSE_ERROR } from "./odata.js";

export type AttrKind = "Uniqueidentifier" | "String" | "Memo" | "Integer" | "DateTime" | "Boolean" | "Picklist";

export interface AttributeDef {
  logicalName: string;
  schemaName: string;
  metadataId: string;
  kind: AttrKind;
  displayName?: string;
  description?: string;
  requiredLevel: string;
  isPrimaryId?: boolean;
  isPrimaryName?: boolean;
  /** String and Memo. */
  maxLength?: number;
  format?: string;
  /** Integer. */
  minValue?: number;
  maxValue?: number;
  /** Picklist (a local option set) and Boolean (false = index 0, true = index 1). */
  optionSetName?: string;
  options?: { value: number; label: string }[];
}

export interface KeyDef {
  logicalName: string;
  schemaName: string;
  metadataId: string;
  displayName?: string;
  keyAttributes: string[];
  /** Epoch ms when the index build "finishes" (Dataverse builds keys asynchronously). */
  activeAt: number;
  /** Fixed once the build has finished: Failed when existing rows already broke uniqueness. */
  status?: "Active" | "Failed";
}

export interface TableDef {
  logicalName: string;
  schemaName: string;
  entitySetName: string;
  metadataId: string;
  objectTypeCode: number;
  ownershipType: "OrganizationOwned" | "UserOwned";
  displayName?: string;
  displayCollectionName?: string;
  description?: string;
  primaryIdAttribute: string;
  primaryNameAttribute?: string;
  attributes: AttributeDef[];
  keys: KeyDef[];
  /** Rows by primary id (custom tables only; the seeded tables' rows live in the seed). */
  rows: Record<string, Record<string, unknown>>;
  /** Next row version number (`versionnumber`, the etag). */
  nextVersion: number;
  /** `TableType` at creation; only the bulk messages' partial success differs for Elastic here. */
  tableType?: "Standard" | "Elastic";
}

/** Custom tables get object type codes from here up, as Dataverse numbers custom entities. */
export const FIRST_CUSTOM_OTC = 10000;

const SYSTEM_COLUMNS: [string, AttrKind][] = [
  ["createdon", "DateTime"],
  ["modifiedon", "DateTime"],
];

function attr(table: string, schemaName: string, kind: AttrKind, extra: Partial<AttributeDef> = {}): AttributeDef {
  return { logicalName: schemaName.toLowerCase(), schemaName, metadataId: stableId(`${table}/${schemaName.toLowerCase()}`), kind, requiredLevel: "None", ...extra };
}

/** A GUID derived from a name, so the seeded definitions keep their ids across restarts. */
function stableId(name: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  let out = "";
  for (let i = 0; i < 4; i++) {
    for (const ch of `${i}:${name}`) {
      h1 = Math.imul(h1 ^ ch.charCodeAt(0), 0x01000193) >>> 0;
      h2 = Math.imul(h2 + ch.charCodeAt(0), 0x5bd1e995) >>> 0;
    }
    out += ((h1 ^ h2) >>> 0).toString(16).padStart(8, "0");
  }
  return `${out.slice(0, 8)}-${out.slice(8, 12)}-4${out.slice(13, 16)}-a${out.slice(17, 20)}-${out.slice(20, 32)}`;
}

function seededTable(logicalName: string, schemaName: string, setName: string, otc: number, attrs: AttributeDef[]): TableDef {
  const id = attr(logicalName, `${schemaName}Id`, "Uniqueidentifier", { isPrimaryId: true, requiredLevel: "SystemRequired" });
  return {
    logicalName,
    schemaName,
    entitySetName: setName,
    metadataId: stableId(logicalName),
    objectTypeCode: otc,
    ownershipType: "UserOwned",
    primaryIdAttribute: id.logicalName,
    primaryNameAttribute: attrs.find((a) => a.isPrimaryName)?.logicalName,
    attributes: [id, ...attrs],
    keys: [],
    rows: {},
    nextVersion: 1,
  };
}

const opts = (labels: Record<number, string>) => Object.entries(labels).map(([v, label]) => ({ value: Number(v), label }));

/**
 * The governance tables the gateway reads, described with exactly the columns the seed serves,
 * and with mixed-case SchemaNames on purpose: privilege names are built from the SchemaName
 * (`prvReadfsi_CaiComplianceState`), not from the logical name.
 */
export function seededTables(labels: Record<string, Record<number, string>>): TableDef[] {
  const c = "fsi_caicompliancestate";
  const e = "fsi_cbgentitlementmaterialized";
  const pick = (t: string, schema: string, set: string) => attr(t, schema, "Picklist", { optionSetName: set, options: opts(labels[schema.toLowerCase()] ?? {}) });
  return [
    seededTable(c, "fsi_CaiComplianceState", "fsi_caicompliancestates", FIRST_CUSTOM_OTC + 1, [
      attr(c, "fsi_AgentId", "String", { maxLength: 200, format: "Text", isPrimaryName: true }),
      pick(c, "fsi_RiskLevel", "fsi_cai_risklevel"),
    ]),
    seededTable(e, "fsi_CbgEntitlementMaterialized", "fsi_cbgentitlementmaterializeds", FIRST_CUSTOM_OTC + 2, [
      attr(e, "fsi_AgentId", "String", { maxLength: 200, format: "Text" }),
      attr(e, "fsi_UserUpn", "String", { maxLength: 320, format: "Email", isPrimaryName: true }),
      pick(e, "fsi_Pathway", "fsi_cbg_pathway"),
      pick(e, "fsi_Decision", "fsi_cbg_decision"),
      pick(e, "fsi_DecisionReason", "fsi_cbg_blockreason"),
      attr(e, "fsi_TtlExpiresAt", "DateTime", { format: "DateAndTime" }),
    ]),
  ];
}

// ---- parsing what clients POST ----

const bad = (message: string) => new ODataError(PARSE_ERROR, message);

function labelText(v: unknown): string | undefined {
  const l = v as { LocalizedLabels?: { Label?: unknown }[]; UserLocalizedLabel?: { Label?: unknown } } | undefined;
  const t = l?.UserLocalizedLabel?.Label ?? l?.LocalizedLabels?.[0]?.Label;
  return typeof t === "string" ? t : undefined;
}

function schemaNameOf(b: Record<string, unknown>, what: string): string {
  const s = b["SchemaName"];
  if (typeof s !== "string" || !/^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+$/.test(s)) {
    throw bad(`${what} SchemaName '${String(s ?? "")}' is not valid: it needs a publisher prefix ('prefix_Name') of letters, digits and underscores.`);
  }
  return s;
}

const TYPES: Record<string, AttrKind> = {
  "Microsoft.Dynamics.CRM.StringAttributeMetadata": "String",
  "Microsoft.Dynamics.CRM.MemoAttributeMetadata": "Memo",
  "Microsoft.Dynamics.CRM.IntegerAttributeMetadata": "Integer",
  "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata": "DateTime",
  "Microsoft.Dynamics.CRM.BooleanAttributeMetadata": "Boolean",
  "Microsoft.Dynamics.CRM.PicklistAttributeMetadata": "Picklist",
};

/** An AttributeMetadata body (as POSTed, or inside EntityMetadata.Attributes) → its definition. */
export function parseAttribute(table: string, body: unknown): AttributeDef {
  if (!body || typeof body !== "object") throw bad("The attribute definition must be a JSON object.");
  const b = body as Record<string, unknown>;
  const type = String(b["@odata.type"] ?? "").replace(/^#/, "");
  const kind = TYPES[type];
  if (!kind) throw bad(`The attribute type '${type || "(missing @odata.type)"}' is not supported by the sandbox (supported: ${Object.keys(TYPES).join(", ")}).`);
  const schemaName = schemaNameOf(b, "Attribute");
  const a: AttributeDef = {
    logicalName: schemaName.toLowerCase(),
    schemaName,
    metadataId: randomUUID(),
    kind,
    displayName: labelText(b["DisplayName"]),
    description: labelText(b["Description"]),
    requiredLevel: String((b["RequiredLevel"] as { Value?: unknown } | undefined)?.Value ?? "None"),
  };
  if (b["IsPrimaryName"] === true) a.isPrimaryName = true;
  if (kind === "String" || kind === "Memo") {
    const max = b["MaxLength"];
    const limit = kind === "String" ? 4000 : 1_048_576;
    const dflt = kind === "String" ? 100 : 2000;
    if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > limit)) throw bad(`MaxLength of '${schemaName}' must be an integer from 1 to ${limit}.`);
    a.maxLength = (max as number | undefined) ?? dflt;
    a.format = String((b["FormatName"] as { Value?: unknown } | undefined)?.Value ?? b["Format"] ?? (kind === "Memo" ? "TextArea" : "Text"));
  } else if (kind === "Integer") {
    a.minValue = typeof b["MinValue"] === "number" ? b["MinValue"] : -2147483648;
    a.maxValue = typeof b["MaxValue"] === "number" ? b["MaxValue"] : 2147483647;
    a.format = String(b["Format"] ?? "None");
  } else if (kind === "DateTime") {
    a.format = String(b["Format"] ?? "DateAndTime");
  } else if (kind === "Boolean") {
    const os = b["OptionSet"] as { TrueOption?: { Label?: unknown }; FalseOption?: { Label?: unknown } } | undefined;
    a.options = [
      { value: 0, label: labelText(os?.FalseOption?.Label) ?? "No" },
      { value: 1, label: labelText(os?.TrueOption?.Label) ?? "Yes" },
    ];
  } else if (kind === "Picklist") {
    const os = b["OptionSet"] as { Name?: unknown; IsGlobal?: unknown; Options?: { Value?: unknown; Label?: unknown }[] } | undefined;
    if (!os || !Array.isArray(os.Options) || os.Options.length === 0) throw bad(`Picklist '${schemaName}' needs a local OptionSet with Options.`);
    if (os.IsGlobal === true) throw bad(`Picklist '${schemaName}': global option sets are not supported by the sandbox; define a local OptionSet.`);
    const seen = new Set<number>();
    a.options = os.Options.map((o) => {
      if (typeof o.Value !== "number" || !Number.isInteger(o.Value)) throw bad(`Every option of '${schemaName}' needs an integer Value.`);
      if (seen.has(o.Value)) throw bad(`Option value ${o.Value} appears twice in '${schemaName}'.`);
      seen.add(o.Value);
      return { value: o.Value, label: labelText(o.Label) ?? String(o.Value) };
    });
    a.optionSetName = typeof os.Name === "string" ? os.Name : `${table}_${a.logicalName}`;
  }
  return a;
}

/** Dataverse's default collection name: the logical name made plural. */
function plural(name: string): string {
  if (/(s|x|z|ch|sh)$/.test(name)) return `${name}es`;
  if (/[^aeiou]y$/.test(name)) return `${name.slice(0, -1)}ies`;
  return `${name}s`;
}

/** An EntityMetadata body → a new table (organization- or user-owned) with its primary columns. */
export function parseTable(body: unknown, objectTypeCode: number): TableDef {
  if (!body || typeof body !== "object") throw bad("The entity definition must be a JSON object.");
  const b = body as Record<string, unknown>;
  const schemaName = schemaNameOf(b, "Entity");
  const logicalName = schemaName.toLowerCase();
  const own = b["OwnershipType"] ?? "UserOwned";
  if (own !== "OrganizationOwned" && own !== "UserOwned") throw bad(`OwnershipType '${String(own)}' is not valid (OrganizationOwned or UserOwned).`);
  if (b["IsActivity"] === true) throw bad("Activity tables are not supported by the sandbox.");
  const tableType = b["TableType"] ?? "Standard";
  if (tableType !== "Standard" && tableType !== "Elastic") throw bad(`TableType '${String(tableType)}' is not valid (Standard or Elastic).`);
  const attrs = Array.isArray(b["Attributes"]) ? (b["Attributes"] as unknown[]).map((a) => parseAttribute(logicalName, a)) : [];
  const primary = attrs.filter((a) => a.isPrimaryName);
  if (primary.length !== 1 || primary[0]!.kind !== "String") throw bad("The entity needs exactly one StringAttributeMetadata with IsPrimaryName true among its Attributes.");
  const idAttr: AttributeDef = { logicalName: `${logicalName}id`, schemaName: `${schemaName}Id`, metadataId: randomUUID(), kind: "Uniqueidentifier", requiredLevel: "SystemRequired", isPrimaryId: true };
  const table: TableDef = {
    logicalName,
    schemaName,
    entitySetName: typeof b["EntitySetName"] === "string" ? b["EntitySetName"] : plural(logicalName),
    metadataId: typeof b["MetadataId"] === "string" ? b["MetadataId"] : randomUUID(),
    objectTypeCode,
    ownershipType: own,
    displayName: labelText(b["DisplayName"]),
    displayCollectionName: labelText(b["DisplayCollectionName"]),
    description: labelText(b["Description"]),
    primaryIdAttribute: idAttr.logicalName,
    primaryNameAttribute: primary[0]!.logicalName,
    attributes: [idAttr],
    keys: [],
    rows: {},
    nextVersion: 1,
    ...(tableType === "Elastic" ? { tableType } : {}),
  };
  for (const a of attrs) addAttribute(table, a);
  for (const [n, k] of SYSTEM_COLUMNS) table.attributes.push({ logicalName: n, schemaName: n.replace(/on$/, "On").replace(/^./, (x) => x.toUpperCase()), metadataId: randomUUID(), kind: k, requiredLevel: "None", format: "DateAndTime" });
  return table;
}

export function addAttribute(table: TableDef, a: AttributeDef): void {
  if (table.attributes.some((x) => x.logicalName === a.logicalName)) throw bad(`An attribute named '${a.logicalName}' already exists on the entity '${table.logicalName}'.`);
  if (a.isPrimaryName && table.primaryNameAttribute && table.primaryNameAttribute !== a.logicalName) throw bad(`The entity '${table.logicalName}' already has a primary name attribute.`);
  table.attributes.push(a);
}

/** Key attribute types Dataverse accepts in an alternate key. */
const KEYABLE: AttrKind[] = ["String", "Integer", "DateTime", "Picklist"];

/** An EntityKeyMetadata body → a key definition, Pending until `activeAt`. */
export function parseKey(table: TableDef, body: unknown, activeAt: number): KeyDef {
  if (!body || typeof body !== "object") throw bad("The key definition must be a JSON object.");
  const b = body as Record<string, unknown>;
  const schemaName = schemaNameOf(b, "Key");
  const attrs = b["KeyAttributes"];
  if (!Array.isArray(attrs) || attrs.length === 0 || attrs.length > 16 || !attrs.every((x) => typeof x === "string")) throw bad("KeyAttributes must list 1 to 16 attribute logical names.");
  for (const n of attrs as string[]) {
    const a = table.attributes.find((x) => x.logicalName === n);
    if (!a) throw bad(`The key attribute '${n}' does not exist on the entity '${table.logicalName}'.`);
    if (!KEYABLE.includes(a.kind)) throw bad(`The attribute '${n}' of type ${a.kind} cannot be part of an alternate key (allowed: ${KEYABLE.join(", ")}).`);
  }
  const logicalName = schemaName.toLowerCase();
  if (table.keys.some((k) => k.logicalName === logicalName)) throw bad(`A key named '${logicalName}' already exists on the entity '${table.logicalName}'.`);
  if (table.keys.length >= 10) throw bad(`The entity '${table.logicalName}' already has the maximum of 10 alternate keys.`);
  return { logicalName, schemaName, metadataId: randomUUID(), displayName: labelText(b["DisplayName"]), keyAttributes: attrs as string[], activeAt };
}

// ---- rendering ----

function label(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return { LocalizedLabels: [], UserLocalizedLabel: null };
  const l = { Label: text, LanguageCode: 1033, IsManaged: false };
  return { LocalizedLabels: [l], UserLocalizedLabel: l };
}

const TYPE_NAME: Record<AttrKind, string> = {
  Uniqueidentifier: "UniqueidentifierType",
  String: "StringType",
  Memo: "MemoType",
  Integer: "IntegerType",
  DateTime: "DateTimeType",
  Boolean: "BooleanType",
  Picklist: "PicklistType",
};

export function renderAttribute(t: TableDef, a: AttributeDef): Record<string, unknown> {
  const out: Record<string, unknown> = {
    "@odata.type": `#Microsoft.Dynamics.CRM.${a.kind === "Uniqueidentifier" ? "" : a.kind}AttributeMetadata`,
    MetadataId: a.metadataId,
    LogicalName: a.logicalName,
    SchemaName: a.schemaName,
    EntityLogicalName: t.logicalName,
    AttributeType: a.kind === "Uniqueidentifier" ? "Uniqueidentifier" : a.kind,
    AttributeTypeName: { Value: TYPE_NAME[a.kind] },
    IsPrimaryId: a.isPrimaryId === true,
    IsPrimaryName: a.isPrimaryName === true,
    IsCustomAttribute: !["createdon", "modifiedon"].includes(a.logicalName) && !a.isPrimaryId,
    IsValidForCreate: a.logicalName !== "createdon" && a.logicalName !== "modifiedon",
    IsValidForUpdate: !a.isPrimaryId && a.logicalName !== "createdon" && a.logicalName !== "modifiedon",
    RequiredLevel: { Value: a.requiredLevel, CanBeChanged: true, ManagedPropertyLogicalName: "canmodifyrequirementlevelsettings" },
    DisplayName: label(a.displayName),
    Description: label(a.description),
  };
  if (a.maxLength !== undefined) out["MaxLength"] = a.maxLength;
  if (a.kind === "String") out["FormatName"] = { Value: a.format ?? "Text" };
  if (a.kind === "Memo" || a.kind === "Integer" || a.kind === "DateTime") out["Format"] = a.format;
  if (a.kind === "Integer") Object.assign(out, { MinValue: a.minValue, MaxValue: a.maxValue });
  // Dataverse returns OptionSet only through a cast + $expand; the sandbox always includes it.
  if (a.kind === "Picklist") out["OptionSet"] = { Name: a.optionSetName, IsGlobal: false, OptionSetType: "Picklist", Options: (a.options ?? []).map((o) => ({ Value: o.value, Label: label(o.label) })) };
  if (a.kind === "Boolean") out["OptionSet"] = { OptionSetType: "Boolean", FalseOption: { Value: 0, Label: label(a.options?.[0]?.label) }, TrueOption: { Value: 1, Label: label(a.options?.[1]?.label) } };
  return out;
}

/** A key's build status now; a finished build is fixed (Failed when rows already collide). */
export function keyStatus(t: TableDef, k: KeyDef, now: number): "Pending" | "Active" | "Failed" {
  if (k.status) return k.status;
  if (now < k.activeAt) return "Pending";
  const seen = new Set<string>();
  let dup = false;
  for (const r of Object.values(t.rows)) {
    const v = JSON.stringify(k.keyAttributes.map((a) => r[a] ?? null));
    if (seen.has(v)) dup = true;
    seen.add(v);
  }
  k.status = dup ? "Failed" : "Active";
  return k.status;
}

export function renderKey(t: TableDef, k: KeyDef, now: number): Record<string, unknown> {
  return {
    "@odata.type": "#Microsoft.Dynamics.CRM.EntityKeyMetadata",
    MetadataId: k.metadataId,
    LogicalName: k.logicalName,
    SchemaName: k.schemaName,
    EntityLogicalName: t.logicalName,
    KeyAttributes: k.keyAttributes,
    DisplayName: label(k.displayName),
    EntityKeyIndexStatus: keyStatus(t, k, now),
    IsManaged: false,
  };
}

export function renderTable(t: TableDef): Record<string, unknown> {
  return {
    MetadataId: t.metadataId,
    LogicalName: t.logicalName,
    SchemaName: t.schemaName,
    EntitySetName: t.entitySetName,
    LogicalCollectionName: t.entitySetName,
    CollectionSchemaName: `${t.schemaName}s`,
    ObjectTypeCode: t.objectTypeCode,
    OwnershipType: t.ownershipType,
    TableType: t.tableType ?? "Standard",
    PrimaryIdAttribute: t.primaryIdAttribute,
    PrimaryNameAttribute: t.primaryNameAttribute ?? null,
    DisplayName: label(t.displayName),
    DisplayCollectionName: label(t.displayCollectionName),
    Description: label(t.description),
    IsActivity: false,
    IsCustomEntity: true,
    IsManaged: false,
    HasNotes: false,
    HasActivities: false,
  };
}
