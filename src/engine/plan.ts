import type { ApplyStatus, Change, FieldChange, PlanStatus } from "./change.js";

/** Summarises a step's changes into the status the plan shows. */
export function planStatus(changes: Change[]): PlanStatus {
  const actions = new Set(changes.map((c) => c.action));
  if (actions.has("blocked")) return "blocked";
  if (actions.size === 1 && actions.has("skipped")) return "skipped";
  if (actions.has("update") || (actions.has("create") && actions.has("delete"))) return "update";
  if (actions.has("create")) return "create";
  if (actions.has("delete")) return "delete";
  if (actions.has("unverifiable")) return "unverifiable";
  return "ok";
}

export function appliedStatus(planned: PlanStatus): ApplyStatus {
  switch (planned) {
    case "create":
      return "created";
    case "update":
      return "updated";
    case "delete":
      return "deleted";
    case "skipped":
      return "skipped";
    default:
      return "ok";
  }
}

/**
 * Field-level differences between a desired and an observed object, for the keys the desired side
 * names. Pure; arrays and nested objects compare by value.
 */
export function diffFields(desired: Record<string, unknown>, observed: Record<string, unknown> | undefined, secretKeys: string[] = []): FieldChange[] {
  return Object.entries(desired)
    .filter(([key, value]) => value !== undefined && !sameValue(value, observed?.[key]))
    .map(([key, value]) => {
      const secret = secretKeys.includes(key);
      return secret ? { field: key, secret } : { field: key, from: observed?.[key], to: value };
    });
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A change as shown in --json and in the plan: never the write, never a secret value. */
export function publicChange(c: Change): Record<string, unknown> {
  return {
    action: c.action,
    resource: c.resource,
    ...(c.note ? { note: c.note } : {}),
    ...(c.action === "blocked" ? { hint: c.hint, exitCode: c.exitCode } : {}),
    fields: c.fields.map((f) =>
      f.secret ? { field: f.field, secret: true } : { field: f.field, ...(f.lines ? { diff: f.lines } : { from: f.from ?? null, to: f.to ?? null }) },
    ),
  };
}
