// Custom tables on the Dataverse stand-in: the metadata API (EntityDefinitions, Attributes,
// Keys), row create / update / upsert by alternate key / read / delete, and the admin read of a
// table's rows. Tables and rows persist in the tenant state; the seeded governance tables are
// described here (metadata, read by id) while their rows stay in the seed.
import { header, json, type Reply, type Req, type Router } from "../http.js";
import type { TenantState } from "../store.js";
import { DATA_PATH, dataverseError, shapeRow, wantsFormattedValues, preferAnnotations, readEntitySet, ENTITY_SETS, type DataverseGate, type ReadAuthorizer } from "./dataverse.js";
import { addAttribute, FIRST_CUSTOM_OTC, parseAttribute, parseKey, parseTable, renderAttribute, renderKey, renderTable, seededTables, type TableDef } from "./dataverse-tables-meta.js";
import { entitySetOf, fail, findRow, insertRow, notFound, parseAddress, updateRow, validateValues, VERSION_MISMATCH, duplicate, type Row } from "./dataverse-tables-rows.js";
import { ODataError, PARSE_ERROR, NO_PROPERTY, checkFilter, matches, parseFilter, parseSelect } from "./odata.js";
import { OPTION_LABELS, type GovernanceSeed } from "./personas.js";

export interface TablesOptions {
  /** How long a new alternate key stays Pending before it is Active; default 0 (at once). */
  keyActivationMs?: number;
  now?: () => number;
}

/** The tables the stand-in knows: the two seeded ones plus the custom ones in the tenant state. */
export class DataverseTables {
  readonly seeded: TableDef[] = seededTables(OPTION_LABELS);
  /** Extra EntityMetadata properties other modules add (e.g. Privileges, derived from SchemaName). */
  readonly extras: ((t: TableDef) => Record<string, unknown>)[] = [];
  /** Told about every table created through the metadata API (privileges are derived from it). */
  onCreate?: (t: TableDef) => void;
  /** Read permission on a table's rows (the least-privilege role); any caller when unset. */
  authorizeRead?: ReadAuthorizer;
  readonly now: () => number;
  readonly keyActivationMs: number;

  constructor(
    private readonly state: TenantState,
    readonly data: GovernanceSeed,
    opts: TablesOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.keyActivationMs = opts.keyActivationMs ?? 0;
  }

  get custom(): Record<string, TableDef> {
    return (this.state.dataverseTables ??= {});
  }

  all(): TableDef[] {
    return [...this.seeded, ...Object.values(this.custom)];
  }

  byLogicalName(name: string): TableDef | undefined {
    return this.all().find((t) => t.logicalName === name);
  }

  /** Custom tables by entity set name (case-sensitive, as Dataverse). */
  customBySet(set: string): TableDef | undefined {
    return Object.values(this.custom).find((t) => t.entitySetName === set);
  }

  isSeeded(t: TableDef): boolean {
    return this.seeded.includes(t);
  }

  /** Rows as stored (custom) or as seeded. */
  rowsOf(t: TableDef): Row[] {
    if (!this.isSeeded(t)) return Object.values(t.rows);
    return ENTITY_SETS[t.entitySetName]!.rows(this.data);
  }

  /** Copy of the custom tables, for a change set to roll back to. */
  snapshot(): Record<string, TableDef> {
    return structuredClone(this.custom);
  }

  restore(s: Record<string, TableDef>): void {
    this.state.dataverseTables = s;
  }
}

/** `Name(inner)` → [Name, inner]; undefined for a plain name. */
function splitSegment(segment: string): [string, string] | undefined {
  const m = /^([A-Za-z_$][A-Za-z0-9_.]*)\((.*)\)$/s.exec(segment);
  return m ? [m[1]!, m[2]!] : undefined;
}

function odata<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ODataError) throw fail(400, e.code, e.message);
    throw e;
  }
}

/**
 * Registers the routes; call before the seeded collection read and the identity routes. The
 * one-segment route claims only what this module owns (EntityDefinitions, custom tables' sets,
 * and `set(key)` on the seeded tables) through the router's path predicate.
 */
export function registerDataverseTables(router: Router<unknown>, gate: DataverseGate, tables: DataverseTables): void {
  router.add("GET", "/_sandbox/tables/{set}/rows", (req) => {
    const t = tables.all().find((x) => x.entitySetName === req.params["set"]);
    if (!t) return json(404, { error: { code: "NotFound", message: `No table has the entity set '${req.params["set"]}'.` } });
    return json(200, { value: tables.rowsOf(t) });
  });
  router.add("POST", `${DATA_PATH}/EntityDefinitions`, gate((req) => createTable(req, tables)));
  for (const sub of ["Attributes", "Keys"] as const) {
    router.add(["GET", "POST"], `${DATA_PATH}/{def}/${sub}`, gate((req) => childCollection(req, tables, sub)), undefined, (path) => lastSegment(path, 2).startsWith("EntityDefinitions("));
  }
  router.add(
    ["GET", "POST", "PATCH", "PUT", "DELETE"],
    `${DATA_PATH}/{set}`,
    gate(async (req, caller, ticket) => {
      const segment = req.params["set"]!;
      const meta = metadataHook(req, tables, segment);
      if (meta) return meta;
      const row = rowHook(req, tables, segment);
      if (row && req.method !== "GET" && row.status < 300) await ticket.rows(1); // one row written or deleted
      if (row) return row;
      const t = tables.customBySet(segment)!;
      if (req.method !== "GET") return dataverseError(405, PARSE_ERROR, `The HTTP method '${req.method}' is not allowed on the entity set '${segment}'.`);
      return readEntitySet(req, caller, segment, entitySetOf(t, () => tables.rowsOf(t)), tables.data, tables.authorizeRead);
    }),
    undefined,
    (path) => owns(tables, lastSegment(path, 1)),
  );
}

function lastSegment(path: string, fromEnd: number): string {
  const segs = path.split("/");
  try {
    return decodeURIComponent(segs[segs.length - fromEnd] ?? "");
  } catch {
    return "";
  }
}

/** The one-segment paths this module answers: EntityDefinitions and the tables' sets. */
function owns(tables: DataverseTables, segment: string): boolean {
  if (segment === "EntityDefinitions" || segment.startsWith("EntityDefinitions(")) return true;
  const name = splitSegment(segment)?.[0] ?? segment;
  if (tables.customBySet(name)) return true;
  return name !== segment && tables.seeded.some((t) => t.entitySetName === name);
}

// ---- metadata ----

function tableFromSegment(tables: DataverseTables, segment: string): TableDef {
  const parts = splitSegment(segment);
  if (!parts || parts[0] !== "EntityDefinitions") throw fail(404, "0x8006088a", `Resource not found for the segment '${segment}'.`);
  const inner = parts[1].trim();
  const byName = /^LogicalName\s*=\s*'([^']*)'$/.exec(inner);
  const t = byName ? tables.byLogicalName(byName[1]!) : tables.all().find((x) => x.metadataId === inner.toLowerCase());
  if (!t) throw fail(404, "0x80040217", `Could not find an entity with specified entity ${byName ? `logicalname '${byName[1]}'` : `id '${inner}'`}.`);
  return t;
}

function renderFull(tables: DataverseTables, t: TableDef): Record<string, unknown> {
  return Object.assign(renderTable(t), ...tables.extras.map((f) => f(t)));
}

/** Applies `$select` to a metadata object (MetadataId always stays, as Dataverse returns it). */
function selectProps(obj: Record<string, unknown>, select: string | null, typeName: string): Record<string, unknown> {
  if (select === null) return obj;
  const out: Record<string, unknown> = {};
  if (obj["@odata.type"]) out["@odata.type"] = obj["@odata.type"];
  for (const p of select.split(",").map((x) => x.trim())) {
    if (!(p in obj)) throw fail(400, NO_PROPERTY, `Could not find a property named '${p}' on type 'Microsoft.Dynamics.CRM.${typeName}'.`);
    out[p] = obj[p];
  }
  out["MetadataId"] = obj["MetadataId"];
  return out;
}

/** `Attributes($select=a,b),Keys` → [["Attributes", "a,b"], ["Keys", null]]. */
function parseExpand(src: string | null): [string, string | null][] {
  if (src === null) return [];
  const out: [string, string | null][] = [];
  let depth = 0;
  let start = 0;
  const items: string[] = [];
  for (let i = 0; i <= src.length; i++) {
    const c = src[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if ((c === "," && depth === 0) || i === src.length) {
      items.push(src.slice(start, i).trim());
      start = i + 1;
    }
  }
  for (const item of items) {
    const m = /^(\w+)(?:\((.*)\))?$/s.exec(item);
    if (!m || (m[1] !== "Attributes" && m[1] !== "Keys")) throw fail(400, PARSE_ERROR, `Could not find a navigation property named '${item}' on type 'Microsoft.Dynamics.CRM.EntityMetadata' (the sandbox expands Attributes and Keys).`);
    let select: string | null = null;
    if (m[2]) {
      const opt = /^\$select=(.*)$/s.exec(m[2].trim());
      if (!opt) throw fail(400, PARSE_ERROR, `Only $select is supported inside $expand (got '${m[2]}').`);
      select = opt[1]!;
    }
    out.push([m[1], select]);
  }
  return out;
}

function checkOptions(req: Req, allowed: string[]): void {
  for (const k of req.query.keys()) if (k.startsWith("$") && !allowed.includes(k)) throw fail(400, PARSE_ERROR, `The query option '${k}' is not supported by the sandbox Dataverse here (supported: ${allowed.join(", ")}).`);
}

function renderWithExpand(req: Req, tables: DataverseTables, t: TableDef): Record<string, unknown> {
  const out = selectProps(renderFull(tables, t), req.query.get("$select"), "EntityMetadata");
  for (const [nav, select] of parseExpand(req.query.get("$expand"))) {
    out[nav] = nav === "Attributes" ? t.attributes.map((a) => selectProps(renderAttribute(t, a), select, "AttributeMetadata")) : t.keys.map((k) => selectProps(renderKey(t, k, tables.now()), select, "EntityKeyMetadata"));
  }
  return out;
}

const META_HEADERS = { "OData-Version": "4.0", "Content-Type": "application/json; odata.metadata=minimal" };

function metadataHook(req: Req, tables: DataverseTables, segment: string): Reply | undefined {
  if (segment === "EntityDefinitions") {
    if (req.method !== "GET") return dataverseError(405, PARSE_ERROR, `The HTTP method '${req.method}' is not allowed on EntityDefinitions.`);
    checkOptions(req, ["$select", "$expand", "$filter"]);
    const f = req.query.get("$filter");
    const cols = { LogicalName: "String", SchemaName: "String", EntitySetName: "String", ObjectTypeCode: "Int32" } as const;
    const filter = f === null ? undefined : odata(() => {
      const n = parseFilter(f);
      checkFilter(n, cols, "EntityMetadata");
      return n;
    });
    const value = tables.all().filter((t) => !filter || matches(filter, renderTable(t))).map((t) => renderWithExpand(req, tables, t));
    return json(200, { "@odata.context": `${req.base}${DATA_PATH}/$metadata#EntityDefinitions`, value }, META_HEADERS);
  }
  if (!segment.startsWith("EntityDefinitions(")) return undefined;
  const t = tableFromSegment(tables, segment);
  if (req.method !== "GET") return dataverseError(405, "0x80060888", `The sandbox does not support ${req.method} on EntityDefinitions (update metadata with PUT is not emulated).`);
  checkOptions(req, ["$select", "$expand"]);
  return json(200, { "@odata.context": `${req.base}${DATA_PATH}/$metadata#EntityDefinitions/$entity`, ...renderWithExpand(req, tables, t) }, META_HEADERS);
}

function createTable(req: Req, tables: DataverseTables): Reply {
  const otc = Math.max(FIRST_CUSTOM_OTC + 2, ...tables.all().map((t) => t.objectTypeCode)) + 1;
  const t = odata(() => parseTable(req.body, otc));
  if (tables.all().some((x) => x.logicalName === t.logicalName || x.entitySetName === t.entitySetName)) {
    throw fail(400, "0x80040237", `An entity with the specified name already exists. Please specify a unique name. (${t.logicalName})`);
  }
  tables.custom[t.logicalName] = t;
  tables.onCreate?.(t);
  return { status: 204, headers: { "OData-Version": "4.0", "OData-EntityId": `${req.base}${DATA_PATH}/EntityDefinitions(${t.metadataId})` } };
}

async function childCollection(req: Req, tables: DataverseTables, sub: "Attributes" | "Keys"): Promise<Reply> {
  const t = tableFromSegment(tables, req.params["def"]!);
  const base = `${req.base}${DATA_PATH}/EntityDefinitions(${t.metadataId})/${sub}`;
  if (req.method === "GET") {
    checkOptions(req, ["$select"]);
    const sel = req.query.get("$select");
    const value = sub === "Attributes" ? t.attributes.map((a) => selectProps(renderAttribute(t, a), sel, "AttributeMetadata")) : t.keys.map((k) => selectProps(renderKey(t, k, tables.now()), sel, "EntityKeyMetadata"));
    return json(200, { "@odata.context": `${req.base}${DATA_PATH}/$metadata#EntityDefinitions(${t.metadataId})/${sub}`, value }, META_HEADERS);
  }
  if (tables.isSeeded(t)) throw fail(400, PARSE_ERROR, `The seeded table '${t.logicalName}' cannot be customized in the sandbox.`);
  if (sub === "Attributes") {
    const a = odata(() => parseAttribute(t.logicalName, req.body));
    odata(() => addAttribute(t, a));
    if (a.isPrimaryName) t.primaryNameAttribute = a.logicalName;
    for (const r of Object.values(t.rows)) r[a.logicalName] = null;
    return { status: 204, headers: { "OData-Version": "4.0", "OData-EntityId": `${base}(${a.metadataId})` } };
  }
  const k = odata(() => parseKey(t, req.body, tables.now() + tables.keyActivationMs));
  t.keys.push(k);
  return { status: 204, headers: { "OData-Version": "4.0", "OData-EntityId": `${base}(${k.metadataId})` } };
}

// ---- rows ----

function rowHook(req: Req, tables: DataverseTables, segment: string): Reply | undefined {
  const parts = splitSegment(segment);
  const setName = parts ? parts[0] : segment;
  const custom = tables.customBySet(setName);
  if (!parts) {
    // Collection: creates here; reads fall through to the OData read in dataverse.ts.
    if (!custom || req.method !== "POST") return undefined;
    const values = validateValues(custom, req.body);
    const row = insertRow(custom, values, tables.now());
    return written(req, tables, custom, row, 201);
  }
  const t = custom ?? tables.all().find((x) => tables.isSeeded(x) && x.entitySetName === setName);
  if (!t) return undefined;
  const addr = parseAddress(t, parts[1], tables.now());
  if (tables.isSeeded(t)) {
    if (req.method !== "GET" || !("id" in addr)) throw fail(405, PARSE_ERROR, `The seeded table '${t.logicalName}' is read-only in the sandbox (GET by id only).`);
    const row = tables.rowsOf(t).find((r) => String(r[t.primaryIdAttribute]).toLowerCase() === addr.id);
    if (!row) throw notFound(t, addr);
    return single(req, tables, t, row, 200);
  }
  const existing = findRow(t, addr);
  switch (req.method) {
    case "GET": {
      if (!existing) throw notFound(t, addr);
      const inm = header(req, "if-none-match");
      if (inm && inm === `W/"${existing["versionnumber"]}"`) return { status: 304, headers: { "OData-Version": "4.0" } };
      return single(req, tables, t, existing, 200);
    }
    case "DELETE":
      if (!existing) throw notFound(t, addr);
      delete t.rows[String(existing[t.primaryIdAttribute])];
      return { status: 204, headers: { "OData-Version": "4.0" } };
    case "PATCH":
      return upsert(req, tables, t, addr, existing);
    default:
      return dataverseError(405, PARSE_ERROR, `The HTTP method '${req.method}' is not allowed on a ${t.logicalName} record.`);
  }
}

/**
 * PATCH is an upsert: it creates when the row is absent and updates when present.
 * `If-None-Match: *` makes it create-only (412 when present); `If-Match: *` update-only (404
 * when absent); `If-Match: W/"n"` also requires that row version (412 otherwise).
 */
function upsert(req: Req, tables: DataverseTables, t: TableDef, addr: ReturnType<typeof parseAddress>, existing: Row | undefined): Reply {
  const ifMatch = header(req, "if-match");
  const ifNoneMatch = header(req, "if-none-match");
  if (ifNoneMatch === "*" && existing) throw duplicate();
  if (ifMatch && !existing) throw notFound(t, addr);
  if (ifMatch && ifMatch !== "*" && ifMatch !== `W/"${existing!["versionnumber"]}"`) throw fail(412, VERSION_MISMATCH, "The version of the existing record doesn't match the RowVersion property provided.");
  const values = validateValues(t, req.body);
  if (existing) return written(req, tables, t, updateRow(t, existing, values, tables.now()), 200);
  const keyValues = "id" in addr ? {} : addr.values;
  const row = insertRow(t, { ...values, ...keyValues }, tables.now(), "id" in addr ? addr.id : undefined);
  return written(req, tables, t, row, 201);
}

/** 204 with OData-EntityId, or the row with `Prefer: return=representation` (201 create / 200 update). */
function written(req: Req, tables: DataverseTables, t: TableDef, row: Row, statusWithBody: 200 | 201): Reply {
  if (/return\s*=\s*representation/i.test(header(req, "prefer") ?? "")) {
    const r = single(req, tables, t, row, statusWithBody);
    r.headers = { ...r.headers, "Preference-Applied": "return=representation" };
    return r;
  }
  return { status: 204, headers: { "OData-Version": "4.0", "OData-EntityId": `${req.base}${DATA_PATH}/${t.entitySetName}(${row[t.primaryIdAttribute]})` } };
}

function single(req: Req, tables: DataverseTables, t: TableDef, row: Row, status: number): Reply {
  const set = tables.isSeeded(t) ? ENTITY_SETS[t.entitySetName]! : entitySetOf(t, () => []);
  checkOptions(req, ["$select"]);
  const select = odata(() => parseSelect(req.query.get("$select"), set.columns, t.logicalName));
  const prefer = header(req, "prefer");
  const body = shapeRow(row, set, select, wantsFormattedValues(prefer));
  const headers: Record<string, string> = { "OData-Version": "4.0", "Content-Type": "application/json; odata.metadata=minimal", ETag: String(body["@odata.etag"]) };
  const applied = preferAnnotations(prefer);
  if (applied) headers["Preference-Applied"] = applied;
  return json(status, { "@odata.context": `${req.base}${DATA_PATH}/$metadata#${t.entitySetName}${select ? `(${select.join(",")})` : ""}/$entity`, ...body }, headers);
}
