import type { Change } from "../engine/change.js";
import { inSync, seen } from "../engine/change.js";
import { policyDiff } from "./canonical.js";

/** A policy document as stored: its value read with format=xml, and its ETag when the read gave one. */
export interface StoredPolicy {
  value: string;
  etag?: string;
}

/**
 * The change for one policy document: compared canonically, so APIM's re-serialisation of what it
 * stores (CRLF, indentation, entities) is never reported as drift. `op` is what apply sends; an
 * update carries the ETag it was planned against, for If-Match.
 */
export function policyChange<Op extends object>(resource: string, desired: string, observed: StoredPolicy | undefined, op: Op): Change<Op> {
  if (observed === undefined) return { action: "create", resource, fields: [{ field: "value", to: "(policy from templates/)" }], apimWrite: true, op, seen: seen(observed) };
  const lines = policyDiff(observed.value, desired); // - live, + template
  if (lines.length === 0) return inSync(resource, observed);
  return { action: "update", resource, fields: [{ field: "value", lines }], apimWrite: true, op: { ...op, ...(observed.etag ? { ifMatch: observed.etag } : {}) }, seen: seen(observed) };
}
