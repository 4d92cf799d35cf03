import type { Change } from "../engine/change.js";
import { inSync, seen } from "../engine/change.js";
import { policyDiff } from "./canonical.js";

/**
 * The change for one policy document: compared canonically, so APIM's re-serialisation of what it
 * stores (CRLF, indentation, entities) is never reported as drift. `op` is what apply sends.
 */
export function policyChange<Op>(resource: string, desired: string, observed: string | undefined, op: Op): Change<Op> {
  if (observed === undefined) return { action: "create", resource, fields: [{ field: "value", to: "(policy from templates/)" }], apimWrite: true, op, seen: seen(observed) };
  const lines = policyDiff(observed, desired); // - live, + template
  if (lines.length === 0) return inSync(resource, observed);
  return { action: "update", resource, fields: [{ field: "value", lines }], apimWrite: true, op, seen: seen(observed) };
}
