import { keySegment } from "./batch.js";

/** The table a bulk upsert writes to, and the alternate key that addresses its rows. */
export interface BulkTable {
  logicalName: string;
  entitySet: string;
  keyAttribute: string;
}

/** Error-details annotation with each record's status (elastic tables; standard ones roll back whole). */
export const BULK_ERROR_DETAILS = "@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails";
/** Asks Dataverse to include that annotation in an error. */
export const PREFER_ERROR_DETAILS = 'odata.include-annotations="Microsoft.PowerApps.CDS.ErrorDetails.*"';

/**
 * UpsertMultiple's `Targets`: every item typed (Dataverse requires `@odata.type` on each) and
 * addressed by the alternate key in `@odata.id`, as Microsoft's Web API sample does; the key column
 * stays in the body too, so a created row carries it whichever way the server reads the key. Pure.
 */
export function upsertTargets<R extends object>(table: BulkTable, rows: R[]): Array<Record<string, unknown>> {
  return rows.map((row) => {
    const key = (row as Record<string, unknown>)[table.keyAttribute];
    return { "@odata.type": `Microsoft.Dynamics.CRM.${table.logicalName}`, "@odata.id": `${table.entitySet}(${keySegment(table.keyAttribute, String(key))})`, ...row };
  });
}

/**
 * One row per key, the last one read: UpsertMultiple refuses a request in which two targets share a
 * key, and upserting the same key twice in order leaves the later row anyway. Keys compare without
 * case, as Dataverse's collation does. Pure.
 */
export function latestPerKey<R extends object>(rows: R[], keyAttribute: string): R[] {
  const byKey = new Map<string, R>();
  for (const row of rows) {
    const key = String((row as Record<string, unknown>)[keyAttribute]).toLowerCase();
    byKey.delete(key); // re-inserted below, so the order is that of the last occurrences
    byKey.set(key, row);
  }
  return [...byKey.values()];
}

/**
 * Whether an error says the environment or table lacks UpsertMultiple (then `$batch` is the way), as
 * opposed to refusing what was sent: 404 for an unknown action segment, 501 for a message not
 * implemented, `0x80040800` "method does not support entities of type" for a table without it. Pure.
 */
export function bulkUnavailable(status: number | undefined, code: string | undefined, message: string): boolean {
  if (status === 404 || status === 501) return true;
  return status === 400 && (code?.toLowerCase() === "0x80040800" || /does not support entities of type|has not yet been implemented/i.test(message));
}

/** Per-record statuses from a bulk error's details annotation, by index in `Targets`; undefined without one. Pure. */
export function bulkErrorDetails(bodyText: string | undefined): Map<number, number> | undefined {
  let raw: unknown;
  try {
    raw = (JSON.parse(bodyText ?? "") as { error?: Record<string, unknown> }).error?.[BULK_ERROR_DETAILS];
    if (typeof raw === "string") raw = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!Array.isArray(raw)) return undefined;
  const out = new Map<number, number>();
  for (const d of raw as Array<{ RequestIndex?: unknown; StatusCode?: unknown }>) {
    if (typeof d?.RequestIndex === "number" && typeof d.StatusCode === "number") out.set(d.RequestIndex, d.StatusCode);
  }
  return out;
}
