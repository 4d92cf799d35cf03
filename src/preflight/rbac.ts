/**
 * Azure RBAC as ARM evaluates it for control-plane actions, pure: wildcard matching of `actions`
 * and `notActions`, and which role assignments apply at a scope. Data actions are not ARM's
 * business here (the gateway's Data Sender role is checked by Event Hubs itself).
 */

/** One permission block of a role definition, or one entry of the permissions API's answer. */
export interface PermissionEntry {
  actions?: string[];
  notActions?: string[];
  dataActions?: string[];
  notDataActions?: string[];
}

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");

/** ARM's rule: case-insensitive, and `*` matches any run of characters, `/` included. */
export function actionMatches(pattern: string, action: string): boolean {
  const body = pattern.split("*").map(escapeRegExp).join(".*");
  return new RegExp(`^${body}$`, "i").test(action);
}

/** One entry allows an action when one of its actions matches and none of its notActions does. */
function entryAllows(entry: PermissionEntry, action: string): boolean {
  const granted = (entry.actions ?? []).some((p) => actionMatches(p, action));
  return granted && !(entry.notActions ?? []).some((p) => actionMatches(p, action));
}

/**
 * Entries add up: an action is allowed when some entry allows it. A notAction only narrows its own
 * entry (it is not a deny), so Contributor's `Microsoft.Authorization/*\/Write` does not take the
 * right away from a User Access Administrator assignment beside it.
 */
export function allows(entries: readonly PermissionEntry[], action: string): boolean {
  return entries.some((e) => entryAllows(e, action));
}

const normalize = (scope: string) => scope.replace(/\/+$/, "").toLowerCase() || "/";

/**
 * Whether an assignment made at `assigned` applies at `target`: at it or above it (ARM ids are
 * case-insensitive). A management group's or the root's assignment applies too: ARM lists a
 * management group for a subscription only when it is one of the subscription's ancestors.
 */
export function scopeCovers(assigned: string, target: string): boolean {
  const a = normalize(assigned);
  const t = normalize(target);
  if (a === "/" || a.startsWith("/providers/microsoft.management/managementgroups/")) return true;
  return t === a || t.startsWith(`${a}/`);
}

/**
 * The scope one level up: a child resource's parent resource, a top-level resource's resource
 * group, a resource group's subscription. Undefined at the subscription (aeg goes no higher).
 */
export function parentScope(scope: string): string | undefined {
  const segs = scope.split("/").filter(Boolean);
  const lower = segs.map((s) => s.toLowerCase());
  const provider = lower.lastIndexOf("providers");
  if (provider >= 0) {
    // …/providers/{namespace}/{type}/{name}[/{type}/{name}…]: drop one type/name pair.
    const rest = segs.length - (provider + 2);
    if (rest > 2) return `/${segs.slice(0, -2).join("/")}`;
    return `/${segs.slice(0, provider).join("/")}`;
  }
  if (lower[2] === "resourcegroups" && segs.length === 4) return `/${segs.slice(0, 2).join("/")}`;
  return undefined;
}
