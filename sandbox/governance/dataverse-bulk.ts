// `POST {set}/Microsoft.Dynamics.CRM.UpsertMultiple`, Dataverse's bulk upsert, as Microsoft documents
// it (learn.microsoft.com/power-apps/developer/data-platform/bulk-operations, "UpsertMultiple",
// "On Error behavior", "Availability"; ms.date 01/31/2025):
// - `{"Targets": [...]}`, every target with `@odata.type` of the set's table; a record is addressed
//   by `@odata.id` (`set(key='v')` or `set(<guid>)`) or its primary id; without either it is created.
// - 204 No Content on success (no UpsertMultipleResponse in the Web API).
// - Two targets with the same primary or alternate key: an error, nothing written.
// - Standard tables: "any error ... causes the entire operation to roll back": nothing is written
//   and the answer is the failing row's own error (the first one, as rows are applied in order).
// - Elastic tables: "a bulk operation may partially succeed": rows that passed stay written and, when
//   `Prefer: odata.include-annotations` asks, the error carries each record's status
//   (`BulkApiErrorDetails`: RequestIndex, Id, StatusCode) in the annotation
//   `@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails` (the SDK's ErrorDetails key
//   `Plugin.BulkApiErrorDetails` under the Web API's ErrorDetails prefix).
// - Availability: custom tables support it; a table without the message answers
//   `0x80040800` "The 'UpsertMultiple' method does not support entities of type '…'" (the
//   platform's wording for a message a table lacks). The seeded tables stand for those.
// Service protection counts the whole request once; its execution time grows with its rows.
// Codes and wording marked "sandbox" below are not documented and are the sandbox's choice.
import { HttpError, header, json, type Reply, type Req, type Router } from "../http.js";
import { DATA_PATH, dataverseError, type DataverseGate } from "./dataverse.js";
import type { DataverseLimits, Ticket } from "./dataverse-limits.js";
import type { DataverseTables } from "./dataverse-tables.js";
import { keyStatus, type KeyDef, type TableDef } from "./dataverse-tables-meta.js";
import { duplicate, fail, insertRow, parseAddress, PAYLOAD_ERROR, updateRow, validateValues, type Row, type RowAddress } from "./dataverse-tables-rows.js";
import { PARSE_ERROR } from "./odata.js";

export const MESSAGE_NOT_SUPPORTED = "0x80040800";
const MESSAGE = "UpsertMultiple";
const DETAILS = "@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Which bulk messages the environment offers (an admin switch stands in for a table that lacks one). */
export interface BulkMessages {
  UpsertMultiple: boolean;
}

export function registerDataverseBulk(router: Router<unknown>, gate: DataverseGate, tables: DataverseTables, limits: DataverseLimits): void {
  const messages: BulkMessages = { UpsertMultiple: true };
  router.add("GET", "/_sandbox/requests", () => json(200, limits.counts()));
  router.add("POST", "/_sandbox/requests/reset", () => {
    limits.resetCounts();
    return json(200, limits.counts());
  });
  router.add(["GET", "POST"], "/_sandbox/messages", (req) => {
    if (req.method === "POST") {
      const v = (req.body as Record<string, unknown> | undefined)?.[MESSAGE];
      if (typeof v !== "boolean") return json(400, { error: { code: "BadRequest", message: `Send {"${MESSAGE}": true|false}.` } });
      messages.UpsertMultiple = v;
    }
    return json(200, messages);
  });
  router.add("POST", `${DATA_PATH}/{set}/Microsoft.Dynamics.CRM.${MESSAGE}`, gate((req, _caller, ticket) => upsertMultiple(req, tables, messages, ticket)));
}

async function upsertMultiple(req: Req, tables: DataverseTables, messages: BulkMessages, ticket: Ticket): Promise<Reply> {
  const setName = req.params["set"]!;
  const t = tables.customBySet(setName);
  if (!t) {
    const seeded = tables.all().find((x) => x.entitySetName === setName);
    if (!seeded) return dataverseError(404, "0x8006088a", `Resource not found for the segment '${setName}'.`);
    return notSupported(seeded);
  }
  if (!messages.UpsertMultiple) return notSupported(t);
  const targets = parseTargets(t, req.body);
  const now = tables.now();
  const addresses = targets.map((target) => addressOf(t, target, now));
  const index = new KeyIndex(t, now);
  refuseDuplicates(t, index, addresses);

  const elastic = t.tableType === "Elastic";
  const undo: Array<() => void> = [];
  const outcomes: Array<{ status: number; id: string | null; error?: Reply }> = [];
  for (const [i, target] of targets.entries()) {
    try {
      outcomes.push(applyOne(t, index, target, addresses[i], now, undo));
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      const address = addresses[i];
      outcomes.push({ status: e.reply.status, id: address && "id" in address ? address.id : null, error: e.reply });
      if (!elastic) break; // standard table: one failure ends the transaction
    }
  }
  await ticket.rows(outcomes.length);
  const failed = outcomes.find((o) => o.error);
  if (!failed) return { status: 204, headers: { "OData-Version": "4.0" } };
  if (!elastic) {
    for (const u of undo.reverse()) u();
    return failed.error!;
  }
  const reply = failed.error!;
  if (wantsErrorDetails(header(req, "prefer"))) {
    const details = outcomes.map((o, RequestIndex) => ({ RequestIndex, Id: o.id, StatusCode: o.status }));
    const body = reply.body as { error: Record<string, unknown> };
    reply.body = { error: { ...body.error, [DETAILS]: JSON.stringify(details) } };
  }
  return reply;
}

function notSupported(t: TableDef): Reply {
  return dataverseError(400, MESSAGE_NOT_SUPPORTED, `The '${MESSAGE}' method does not support entities of type '${t.logicalName}'. MessageProcessorCache returned MessageProcessor.Empty.`);
}

/** The `Targets` parameter: objects, each typed as this table (documented as required on every item). */
function parseTargets(t: TableDef, body: unknown): Row[] {
  const targets = (body as { Targets?: unknown } | undefined)?.Targets;
  // Sandbox wording: the documented facts are the parameter's name and that every item is typed.
  if (!Array.isArray(targets) || targets.length === 0) throw fail(400, PAYLOAD_ERROR, `${MESSAGE} needs a 'Targets' parameter: a non-empty array of ${t.logicalName} records.`);
  const type = `Microsoft.Dynamics.CRM.${t.logicalName}`;
  return targets.map((target, i) => {
    if (!target || typeof target !== "object" || Array.isArray(target)) throw fail(400, PAYLOAD_ERROR, `Targets[${i}] is not a record.`);
    const declared = (target as Row)["@odata.type"];
    if (declared === undefined) throw fail(400, PAYLOAD_ERROR, `Targets[${i}] has no @odata.type annotation; every item of Targets must declare its type ('${type}').`);
    if (declared !== type && declared !== `#${type}`) throw fail(400, PAYLOAD_ERROR, `Targets[${i}] is of type '${String(declared)}'; all Targets must be '${type}'.`);
    return target as Row;
  });
}

/** `@odata.id` (relative or absolute, key or id), else the primary id in the body, else none: a create. */
function addressOf(t: TableDef, target: Row, now: number): RowAddress | undefined {
  const ref = target["@odata.id"];
  if (ref !== undefined) {
    if (typeof ref !== "string") throw fail(400, PAYLOAD_ERROR, "@odata.id must be a URL.");
    let text: string;
    try {
      text = decodeURIComponent(ref);
    } catch {
      throw fail(400, PARSE_ERROR, `The @odata.id '${ref}' is not a valid URL.`);
    }
    const relative = text.replace(/^.*?\/api\/data\/v9\.\d\//i, "").replace(/^\//, "");
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$/s.exec(relative);
    if (!m || m[1] !== t.entitySetName) throw fail(400, PARSE_ERROR, `The @odata.id '${ref}' does not address a record of '${t.entitySetName}'.`);
    return parseAddress(t, m[2]!, now);
  }
  const id = target[t.primaryIdAttribute];
  return typeof id === "string" && GUID.test(id) ? { id: id.toLowerCase() } : undefined;
}

function refuseDuplicates(t: TableDef, index: KeyIndex, addresses: Array<RowAddress | undefined>): void {
  const seen = new Map<string, number>();
  addresses.forEach((a, i) => {
    if (!a) return;
    const existing = index.find(a);
    const identity = existing ? `id:${String(existing[t.primaryIdAttribute])}` : "id" in a ? `id:${a.id}` : `key:${tuple(a.key, a.values)}`;
    const first = seen.get(identity);
    // Documented: duplicates are an error. Status and code are the sandbox's choice.
    if (first !== undefined) throw fail(400, "0x80040237", `Targets[${first}] and Targets[${i}] identify the same ${t.logicalName} record; ${MESSAGE} does not accept duplicate keys in one request.`);
    seen.set(identity, i);
  });
}

/** Upserts one target as PATCH on its address would; records how to undo it. */
function applyOne(t: TableDef, index: KeyIndex, target: Row, address: RowAddress | undefined, now: number, undo: Array<() => void>): { status: number; id: string } {
  const values = validateValues(t, target);
  const existing = address ? index.find(address) : undefined;
  const unique = (_t: TableDef, row: Row) => index.check(row);
  if (existing) {
    const id = String(existing[t.primaryIdAttribute]);
    const next = updateRow(t, existing, values, now, unique);
    index.replace(existing, next);
    undo.push(() => {
      t.rows[id] = existing;
      index.replace(next, existing);
    });
    return { status: 200, id };
  }
  const keyValues = address && "key" in address ? address.values : {};
  const row = insertRow(t, { ...values, ...keyValues }, now, address && "id" in address ? address.id : undefined, unique);
  const id = String(row[t.primaryIdAttribute]);
  index.replace(undefined, row);
  undo.push(() => {
    delete t.rows[id];
    index.replace(row, undefined);
  });
  return { status: 201, id };
}

/** A key's values as one comparable string: strings without case, as Dataverse's collation compares them. */
function tuple(k: KeyDef, row: Row): string {
  return JSON.stringify(k.keyAttributes.map((a) => (typeof row[a] === "string" ? (row[a] as string).toLowerCase() : (row[a] ?? null))));
}

/**
 * The table's active alternate keys, indexed once per request, so a request of n rows on a table of
 * m costs n + m rather than n × m (the single-row routes scan; a 1,000-row request cannot).
 */
class KeyIndex {
  private readonly keys = new Map<KeyDef, Map<string, string>>();

  constructor(
    private readonly t: TableDef,
    now: number,
  ) {
    for (const k of t.keys.filter((x) => keyStatus(t, x, now) === "Active")) {
      const ids = new Map<string, string>();
      for (const r of Object.values(t.rows)) ids.set(tuple(k, r), String(r[t.primaryIdAttribute]));
      this.keys.set(k, ids);
    }
  }

  find(a: RowAddress): Row | undefined {
    if ("id" in a) return this.t.rows[a.id];
    const id = this.keys.get(a.key)?.get(tuple(a.key, a.values));
    return id === undefined ? undefined : this.t.rows[id];
  }

  /** 412 when `row` would share an active key's values with another row (as checkUnique, indexed). */
  check(row: Row): void {
    const id = String(row[this.t.primaryIdAttribute]);
    for (const [k, ids] of this.keys) {
      const other = ids.get(tuple(k, row));
      if (other !== undefined && other !== id) throw duplicate();
    }
  }

  replace(before: Row | undefined, after: Row | undefined): void {
    for (const [k, ids] of this.keys) {
      if (before) ids.delete(tuple(k, before));
      if (after) ids.set(tuple(k, after), String(after[this.t.primaryIdAttribute]));
    }
  }
}

/** `Prefer: odata.include-annotations` naming `*` or the ErrorDetails annotations. */
function wantsErrorDetails(prefer: string | undefined): boolean {
  const m = /odata\.include-annotations\s*=\s*"?([^"]*)"?/i.exec(prefer ?? "");
  return !!m && m[1]!.split(",").some((p) => ["*", "Microsoft.PowerApps.CDS.ErrorDetails.*", "Microsoft.PowerApps.CDS.*"].includes(p.trim()));
}
