// Rows of custom tables: column validation as Dataverse does it (types, MaxLength, option-set
// values, unknown properties), addressing by primary id or alternate key (`set(k='v')`), and
// alternate-key uniqueness. Failures are thrown as HttpError carrying Dataverse's error body.
import { randomUUID } from "node:crypto";
import { HttpError } from "../http.js";
import { dataverseError, type EntitySet } from "./dataverse.js";
import { keyStatus, type AttrKind, type KeyDef, type TableDef } from "./dataverse-tables-meta.js";
import { NO_PROPERTY, PARSE_ERROR, type ColumnType } from "./odata.js";

export type Row = Record<string, unknown>;

/** Payload error (wrong JSON type for a column). */
export const PAYLOAD_ERROR = "0x80048d19";
/** String longer than the column's MaxLength. */
export const TOO_LONG = "0x80044331";
/** Integer or option-set value outside what the column accepts. */
export const OUT_OF_RANGE = "0x8004431a";
export const DUPLICATE = "0x80040237";
export const NOT_FOUND = "0x80040217";
export const VERSION_MISMATCH = "0x80060882";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EDM: Record<AttrKind, ColumnType> = { Uniqueidentifier: "Guid", String: "String", Memo: "String", Integer: "Int32", Picklist: "Int32", DateTime: "DateTimeOffset", Boolean: "Boolean" };

export const fail = (status: number, code: string, message: string): HttpError => new HttpError(dataverseError(status, code, message));

/** The table as an entity set for the OData collection read in dataverse.ts. */
export function entitySetOf(t: TableDef, rows: () => Row[]): EntitySet {
  const labels: Record<string, Record<number, string>> = {};
  for (const a of t.attributes) if (a.kind === "Picklist" && a.options) labels[a.logicalName] = Object.fromEntries(a.options.map((o) => [o.value, o.label]));
  return {
    logicalName: t.logicalName,
    key: t.primaryIdAttribute,
    columns: Object.fromEntries(t.attributes.map((a) => [a.logicalName, EDM[a.kind]])),
    rows,
    labels,
    version: (r) => Number(r["versionnumber"] ?? 1),
  };
}

function payloadError(t: TableDef, literal: unknown, edm: string): HttpError {
  return fail(
    400,
    PAYLOAD_ERROR,
    `Error identified in Payload provided by the user for Entity :'${t.entitySetName}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : Microsoft.OData.ODataException: Cannot convert the literal '${typeof literal === "string" ? literal : JSON.stringify(literal)}' to the expected type 'Edm.${edm}'.`,
  );
}

/**
 * Checks a create/update body against the columns and returns the values to store. OData
 * annotations are ignored; `@odata.bind` is refused (these tables have no lookups).
 */
export function validateValues(t: TableDef, body: unknown): Row {
  if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) throw fail(400, PAYLOAD_ERROR, `Error identified in Payload provided by the user for Entity :'${t.entitySetName}': the body must be a JSON object.`);
  const out: Row = {};
  for (const [prop, v] of Object.entries(body as Row)) {
    if (prop.startsWith("@")) continue;
    if (prop.includes("@odata.bind")) throw fail(400, PAYLOAD_ERROR, `Error identified in Payload provided by the user for Entity :'${t.entitySetName}': the navigation property '${prop.split("@")[0]}' does not exist.`);
    if (prop.includes("@")) continue;
    const a = t.attributes.find((x) => x.logicalName === prop);
    if (!a) throw fail(400, PARSE_ERROR, `The property '${prop}' does not exist on type 'Microsoft.Dynamics.CRM.${t.logicalName}'. Make sure to only use property names that are defined by the type or mark the type as open type.`);
    if (prop === "createdon" || prop === "modifiedon") continue; // system-set; Dataverse ignores them too
    if (v === null) {
      if (a.isPrimaryId) throw payloadError(t, v, "Guid");
      out[prop] = null;
      continue;
    }
    switch (a.kind) {
      case "Uniqueidentifier":
        if (typeof v !== "string" || !GUID.test(v)) throw payloadError(t, v, "Guid");
        out[prop] = v.toLowerCase();
        break;
      case "String":
      case "Memo":
        if (typeof v !== "string") throw payloadError(t, v, "String");
        if (v.length > a.maxLength!) throw fail(400, TOO_LONG, `A validation error occurred. The length of the '${prop}' attribute of the '${t.logicalName}' entity exceeded the maximum allowed length of '${a.maxLength}'.`);
        out[prop] = v;
        break;
      case "Integer":
        if (typeof v !== "number" || !Number.isInteger(v)) throw payloadError(t, v, "Int32");
        if (v < a.minValue! || v > a.maxValue!) throw fail(400, OUT_OF_RANGE, `A validation error occurred. The value ${v} of '${prop}' on record of type '${t.logicalName}' is outside the valid range (${a.minValue} to ${a.maxValue}).`);
        out[prop] = v;
        break;
      case "Picklist": {
        if (typeof v !== "number" || !Number.isInteger(v)) throw payloadError(t, v, "Int32");
        const allowed = (a.options ?? []).map((o) => o.value);
        if (!allowed.includes(v)) throw fail(400, OUT_OF_RANGE, `A validation error occurred. The value ${v} of '${prop}' on record of type '${t.logicalName}' is outside the valid range. Accepted Values: ${allowed.join(",")}`);
        out[prop] = v;
        break;
      }
      case "Boolean":
        if (typeof v !== "boolean") throw payloadError(t, v, "Boolean");
        out[prop] = v;
        break;
      case "DateTime": {
        if (typeof v !== "string" || Number.isNaN(Date.parse(v)) || !/^\d{4}-\d{2}-\d{2}(T|$)/.test(v)) throw payloadError(t, v, "DateTimeOffset");
        // Dataverse stores UTC to the second and answers with a trailing Z.
        out[prop] = new Date(Date.parse(/T/.test(v) ? v : `${v}T00:00:00Z`)).toISOString().replace(/\.\d{3}Z$/, "Z");
        break;
      }
    }
  }
  return out;
}

/** How a row is addressed: `(guid)` or `(attr='v',attr2=123)` by an alternate key. */
export type RowAddress = { id: string } | { key: KeyDef; values: Row };

/** Parses the part inside `set(…)`. */
export function parseAddress(t: TableDef, inner: string, now: number): RowAddress {
  const s = inner.trim();
  if (GUID.test(s)) return { id: s.toLowerCase() };
  const values: Row = {};
  let i = 0;
  while (i < s.length) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*/.exec(s.slice(i));
    if (!m) throw fail(400, PARSE_ERROR, `Bad Request - Error in query syntax: the key '${s}' is not a GUID or a list of name=value pairs.`);
    i += m[0].length;
    let v: unknown;
    if (s[i] === "'") {
      let str = "";
      let j = i + 1;
      for (;;) {
        if (j >= s.length) throw fail(400, PARSE_ERROR, `Bad Request - Error in query syntax: unterminated string in the key '${s}'.`);
        if (s[j] === "'") {
          if (s[j + 1] === "'") {
            str += "'";
            j += 2;
            continue;
          }
          break;
        }
        str += s[j];
        j++;
      }
      v = str;
      i = j + 1;
    } else {
      const lit = /^[^,\s]+/.exec(s.slice(i))?.[0] ?? "";
      v = /^-?\d+$/.test(lit) ? Number(lit) : GUID.test(lit) ? lit.toLowerCase() : undefined;
      if (v === undefined) throw fail(400, PARSE_ERROR, `Bad Request - Error in query syntax: '${lit}' is not a key literal.`);
      i += lit.length;
    }
    values[m[1]!] = v;
    const sep = /^\s*,?\s*/.exec(s.slice(i))![0];
    i += sep.length;
  }
  const names = Object.keys(values).sort();
  for (const n of names) if (!t.attributes.some((a) => a.logicalName === n)) throw fail(400, NO_PROPERTY, `Could not find a property named '${n}' on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
  const key = t.keys.find((k) => [...k.keyAttributes].sort().join(",") === names.join(","));
  if (!key) throw fail(400, PARSE_ERROR, `The key (${names.join(", ")}) is not an alternate key of the entity '${t.logicalName}'.`);
  const status = keyStatus(t, key, now);
  if (status !== "Active") throw fail(400, PARSE_ERROR, `The alternate key '${key.logicalName}' of the entity '${t.logicalName}' cannot be used: its EntityKeyIndexStatus is ${status}.`);
  return { key, values: validateValues(t, values) };
}

export function findRow(t: TableDef, addr: RowAddress): Row | undefined {
  if ("id" in addr) return t.rows[addr.id];
  return Object.values(t.rows).find((r) => addr.key.keyAttributes.every((a) => sameValue(r[a], addr.values[a])));
}

function sameValue(a: unknown, b: unknown): boolean {
  // String key values compare case-insensitively, as Dataverse's collation does.
  if (typeof a === "string" && typeof b === "string") return a.toLowerCase() === b.toLowerCase();
  return (a ?? null) === (b ?? null);
}

export function notFound(t: TableDef, addr: RowAddress): HttpError {
  if ("id" in addr) return fail(404, NOT_FOUND, `${t.logicalName} With Id = ${addr.id} Does Not Exist`);
  return fail(404, NOT_FOUND, `A record with the specified key values does not exist in ${t.logicalName} entity`);
}

export function duplicate(): HttpError {
  return fail(412, DUPLICATE, "A record with matching key values already exists.");
}

/** Throws 412 when `row` would share an active alternate key's values with another row. */
export function checkUnique(t: TableDef, row: Row, now: number): void {
  const id = row[t.primaryIdAttribute];
  for (const k of t.keys) {
    if (keyStatus(t, k, now) !== "Active") continue;
    const clash = Object.values(t.rows).some((r) => r[t.primaryIdAttribute] !== id && k.keyAttributes.every((a) => sameValue(r[a], row[a])));
    if (clash) throw duplicate();
  }
}

/** Throws 412 when a row would break an alternate key's uniqueness; the bulk path passes an indexed one. */
export type UniqueCheck = (t: TableDef, row: Row, now: number) => void;

/** Creates a row (the id from the body or the address, else a new one); returns it. */
export function insertRow(t: TableDef, values: Row, now: number, id?: string, unique: UniqueCheck = checkUnique): Row {
  const rowId = String(values[t.primaryIdAttribute] ?? id ?? randomUUID()).toLowerCase();
  if (t.rows[rowId]) throw duplicate();
  const stamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z");
  const row: Row = {};
  for (const a of t.attributes) row[a.logicalName] = null;
  Object.assign(row, values, { [t.primaryIdAttribute]: rowId, createdon: stamp, modifiedon: stamp, versionnumber: t.nextVersion++ });
  unique(t, row, now);
  t.rows[rowId] = row;
  return row;
}

/** Applies an update to an existing row (uniqueness checked before anything changes). */
export function updateRow(t: TableDef, row: Row, values: Row, now: number, unique: UniqueCheck = checkUnique): Row {
  const idAttr = t.primaryIdAttribute;
  if (values[idAttr] !== undefined && values[idAttr] !== row[idAttr]) throw fail(400, PARSE_ERROR, `The primary key '${idAttr}' cannot be changed.`);
  const next: Row = { ...row, ...values, modifiedon: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"), versionnumber: t.nextVersion++ };
  unique(t, next, now);
  t.rows[String(row[idAttr])] = next;
  return next;
}
