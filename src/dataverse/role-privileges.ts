import type { TableDefinition, RolePrivilege } from "../azure/dataverse.js";
import type { FieldChange } from "../engine/change.js";
import type { TemplateSet } from "../policy/templates.js";

/**
 * Entity sets the shipped policies read, found in their Web API URLs (`/api/data/v9.x/<set>`).
 * Derived from the templates, so a policy that starts reading another table changes the role too.
 */
export function policyEntitySets(templates: TemplateSet): string[] {
  const docs = [...Object.values(templates.fragments), templates.apiPolicy, templates.operationPolicy];
  const sets = new Set<string>();
  for (const doc of docs) for (const m of doc.matchAll(/\/api\/data\/v9\.\d+\/([A-Za-z_][A-Za-z0-9_]*)/g)) sets.add(m[1]!);
  return [...sets].sort();
}

export interface DesiredPrivilege {
  id: string;
  name: string;
  depth: "Global";
}

/** Read at Global depth on every table the policy reads, plus Create on the decision log when enabled. */
export function desiredPrivileges(readTables: TableDefinition[], decisionLog: TableDefinition | undefined): DesiredPrivilege[] {
  const pick = (t: TableDefinition, type: string): DesiredPrivilege[] => {
    const p = t.Privileges.find((x) => x.PrivilegeType === type);
    return p ? [{ id: p.PrivilegeId.toLowerCase(), name: p.Name, depth: "Global" }] : [];
  };
  return [...readTables.flatMap((t) => pick(t, "Read")), ...(decisionLog ? pick(decisionLog, "Create") : [])];
}

const DEPTH_NAMES = ["Basic", "Local", "Deep", "Global"];
export function depthName(depth: string | number): string {
  return typeof depth === "number" ? (DEPTH_NAMES[depth] ?? String(depth)) : /^\d$/.test(depth) ? (DEPTH_NAMES[Number(depth)] ?? depth) : depth;
}

export interface PrivilegeDiff {
  /** Missing, or held at another depth: AddPrivilegesRole sets the depth in place. */
  add: DesiredPrivilege[];
  /** Held but not needed: least privilege means they go. */
  remove: Array<{ id: string; name: string }>;
  fields: FieldChange[];
}

/** What the role must gain and lose to hold exactly the desired privileges. Pure. */
export function privilegeDiff(desired: DesiredPrivilege[], held: RolePrivilege[]): PrivilegeDiff {
  const heldById = new Map(held.map((p) => [p.PrivilegeId.toLowerCase(), p]));
  const wanted = new Set(desired.map((d) => d.id));
  const add = desired.filter((d) => depthName(heldById.get(d.id)?.Depth ?? "") !== d.depth);
  const remove = held.filter((p) => !wanted.has(p.PrivilegeId.toLowerCase())).map((p) => ({ id: p.PrivilegeId.toLowerCase(), name: p.PrivilegeName ?? p.PrivilegeId }));
  const fields: FieldChange[] = [
    ...add.map((d) => ({ field: d.name, from: heldById.has(d.id) ? depthName(heldById.get(d.id)!.Depth) : null, to: d.depth })),
    ...remove.map((r) => ({ field: r.name, from: depthName(heldById.get(r.id)!.Depth), to: null })),
  ];
  return { add, remove, fields };
}
