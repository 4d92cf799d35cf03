// Claims-based security for the Event Hubs AMQP front end: what a `$cbs` put-token proves (an
// Entra JWT for a principal, or a namespace SAS token) and whether that allows a send or listen on
// a hub. Entra tokens are authorized by the role assignments in the tenant state, like Azure RBAC.
import { createHmac, timingSafeEqual } from "node:crypto";
import { verifyToken, type EntraContext } from "../entra.js";
import type { EhNamespace, TenantState } from "../store.js";
import type { EventStore } from "./store.js";

const SAS_KEY_NAME = "RootManageSharedAccessKey";
const JWT_TOKEN_TYPE = "jwt";
const SAS_TOKEN_TYPE = "servicebus.windows.net:sastoken";

const DATA_OWNER = "f526a384-b230-433a-b45c-95f59c4a2dec";
const DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";
const DATA_RECEIVER = "a638d3c7-ab3a-418d-83e6-5f17a39d4fde";

/**
 * Roles that grant each right. Owner is here because the sandbox brief asks for it (the operator
 * app is Owner); note that Azure's Owner carries no data actions, so Azure itself would refuse it.
 */
const ROLES_FOR: Record<Right, string[]> = {
  // As in Azure, Owner (a control-plane role) carries no data actions.
  send: [DATA_SENDER, DATA_OWNER],
  listen: [DATA_RECEIVER, DATA_OWNER],
};

export type Right = "send" | "listen";

/** What one put-token established on a connection. */
export type Claim =
  | { kind: "jwt"; principalId: string; expires: number }
  | { kind: "sas"; namespace: string; /** Entity path the token's `sr` covers ("" = namespace). */ path: string; expires: number };

export type TokenCheck = { ok: true; claim: Claim } | { ok: false; description: string };

export interface AuthContext {
  state: TenantState;
  entra: EntraContext;
  events: EventStore;
}

/** Audiences an Event Hubs JWT may carry: the service's, with or without slash, or a namespace URL. */
function jwtAudiences(state: TenantState): string[] {
  const out = ["https://eventhubs.azure.net", "https://eventhubs.azure.net/"];
  for (const ns of Object.values(state.eventHubNamespaces)) out.push(`https://${ns.name}.servicebus.windows.net`, `https://${ns.name}.servicebus.windows.net/`);
  return out;
}

/** Validates a put-token; `type` is the CBS token type the client declared. */
export async function checkToken(ctx: AuthContext, token: string, type: string): Promise<TokenCheck> {
  if (type === SAS_TOKEN_TYPE || token.startsWith("SharedAccessSignature ")) return checkSas(ctx, token);
  if (type !== JWT_TOKEN_TYPE) return { ok: false, description: `InvalidToken: the token type '${type}' is not supported.` };
  const v = await verifyToken(ctx.entra, token, jwtAudiences(ctx.state));
  if (!v.ok) {
    if (v.reason === "expired") return { ok: false, description: "ExpiredToken: The provided token has expired." };
    if (v.reason === "audience") return { ok: false, description: `InvalidAudience: The token audience '${v.detail}' is not valid for Event Hubs.` };
    return { ok: false, description: "InvalidSignature: The token has an invalid signature or issuer." };
  }
  return { ok: true, claim: { kind: "jwt", principalId: v.claims.oid, expires: (v.claims.exp ?? 0) * 1000 } };
}

/** `SharedAccessSignature sr=…&sig=…&se=…&skn=…`: the namespace is whichever key signed it. */
function checkSas(ctx: AuthContext, token: string): TokenCheck {
  const fields = new URLSearchParams(token.replace(/^SharedAccessSignature\s+/, ""));
  const sr = fields.get("sr") ?? "";
  const sig = fields.get("sig") ?? "";
  const se = Number(fields.get("se"));
  const skn = fields.get("skn") ?? "";
  if (!sr || !sig || !Number.isFinite(se) || !skn) return { ok: false, description: "InvalidToken: The shared access signature is malformed." };
  if (skn !== SAS_KEY_NAME) return { ok: false, description: `InvalidSignature: The key '${skn}' does not exist.` };
  if (se * 1000 < Date.now()) return { ok: false, description: "ExpiredToken: The shared access signature has expired." };
  // The signature covers the URL-encoded resource and the expiry, HMAC-SHA256 keyed by the key text.
  const toSign = `${encodeURIComponent(sr)}\n${fields.get("se")}`;
  const given = Buffer.from(sig, "base64");
  for (const ns of Object.values(ctx.state.eventHubNamespaces)) {
    const mac = createHmac("sha256", ctx.events.sasKey(ns.name)).update(toSign).digest();
    if (mac.length === given.length && timingSafeEqual(mac, given)) {
      return { ok: true, claim: { kind: "sas", namespace: ns.name, path: entityPathOf(sr), expires: se * 1000 } };
    }
  }
  return { ok: false, description: "InvalidSignature: The token has an invalid signature." };
}

/** The entity path of an audience or resource URL (`sb://host:port/hub/Partitions/0` → `hub/partitions/0`). */
export function entityPathOf(audience: string): string {
  const m = /^[a-z]+:\/\/[^/]+\/?(.*)$/i.exec(audience);
  return (m ? m[1]! : audience).replace(/\/+$/, "").toLowerCase();
}

/** The host of an audience URL, lower-cased, without port ("" when there is none). */
export function hostOf(audience: string): string {
  return (/^[a-z]+:\/\/([^/:]+)/i.exec(audience)?.[1] ?? "").toLowerCase();
}

/** Whether a claim lets its holder use `right` on `ns/hub` (entity path `path`, lower-case). */
export function allows(ctx: AuthContext, claim: Claim, ns: EhNamespace, hub: string, path: string, right: Right): boolean {
  if (claim.expires < Date.now()) return false;
  if (claim.kind === "sas") {
    // The namespace key has Manage, Send and Listen; its token covers the entities under `sr`.
    return claim.namespace.toLowerCase() === ns.name.toLowerCase() && (claim.path === "" || path === claim.path || path.startsWith(`${claim.path}/`));
  }
  const s = ctx.state;
  const principal = claim.principalId.toLowerCase();
  // The operator app stands for an administrator who was granted Azure Event Hubs Data Owner on the
  // subscription to run `aeg validate` and `aeg sink` (documented in the sandbox README).
  if (s.apps.operator.objectId.toLowerCase() === principal && ROLES_FOR[right].includes(DATA_OWNER)) return true;
  const hubId = `/subscriptions/${s.subscriptionId}/resourceGroups/${ns.resourceGroup}/providers/Microsoft.EventHub/namespaces/${ns.name}/eventhubs/${hub}`.toLowerCase();
  return Object.values(s.roleAssignments).some((a) => {
    if (a.principalId.toLowerCase() !== principal || !ROLES_FOR[right].includes(a.roleDefinitionGuid.toLowerCase())) return false;
    const scope = a.scope.replace(/\/+$/, "").toLowerCase();
    return hubId === scope || hubId.startsWith(`${scope}/`);
  });
}

/** Azure's wording when a claim is missing, e.g. `'Listen' claim(s) are required`. */
export function unauthorizedDescription(right: Right, resource: string): string {
  return `Unauthorized access. '${right === "send" ? "Send" : "Listen"}' claim(s) are required to perform this operation. Resource: '${resource}'.`;
}
