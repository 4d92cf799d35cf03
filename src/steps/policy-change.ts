import { policyDiff } from "../policy/canonical.js";
import type { Change, RunContext } from "../engine/types.js";

/**
 * The change for one policy document: compared canonically, so APIM's re-serialisation of what it
 * stores (CRLF, indentation, entities) is never reported as drift.
 */
export function policyChange(resource: string, desired: string, observed: string | undefined, write: (ctx: RunContext) => Promise<void>): Change {
  if (observed === undefined) return { action: "create", resource, fields: [{ field: "value", to: "(policy from templates/)" }], apimWrite: true, write };
  const lines = policyDiff(observed, desired); // - live, + template
  if (lines.length === 0) return { action: "ok", resource, fields: [] };
  return { action: "update", resource, fields: [{ field: "value", lines }], apimWrite: true, write };
}
