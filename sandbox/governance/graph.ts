// The Microsoft Graph stand-in (graph listener), limited to the overage fallback's one call:
// checkMemberGroups on a user (by object id or UPN) or a directory object, answered from the
// persona seed. Errors use Graph's body shape with its innerError block.
import { randomUUID } from "node:crypto";
import { header, json, type Reply, type Req, type Router } from "../http.js";
import type { EntraContext, TokenClaims } from "../entra.js";
import { checkBearer } from "./auth.js";
import { ListenerFaults, registerFaultAdmin } from "./faults.js";
import { GRAPH_APP_ID } from "./graph-directory-state.js";
import type { GovernanceSeed } from "./personas.js";

const MAX_GROUP_IDS = 20;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Graph's resource URI and app id, plus the listener's own URL (as ARM accepts its own). */
export function graphAudienceOk(aud: string, base: string): boolean {
  const a = aud.replace(/\/+$/, "").toLowerCase();
  return a === "https://graph.microsoft.com" || a === GRAPH_APP_ID || a === base.toLowerCase();
}

export function graphError(req: Req | undefined, status: number, code: string, message: string, headers: Record<string, string> = {}): Reply {
  const requestId = randomUUID();
  const clientRequestId = (req && header(req, "client-request-id")) || requestId;
  return json(
    status,
    { error: { code, message, innerError: { date: new Date().toISOString().replace(/\.\d+Z$/, ""), "request-id": requestId, "client-request-id": clientRequestId } } },
    { "request-id": requestId, "client-request-id": clientRequestId, ...headers },
  );
}

export function graphFaults(): ListenerFaults {
  return new ListenerFaults({
    error: (status) => graphError(undefined, status, status === 503 ? "serviceNotAvailable" : "generalException", "The service is temporarily unavailable (sandbox fault)."),
    throttle: (s) => graphError(undefined, 429, "TooManyRequests", "Too many requests have been sent; retry after the interval in Retry-After.", { "Retry-After": String(s) }),
  });
}

/** Which callers may ask about group membership: the seam mountGovernance fills with app-role grants. */
export type MembershipAuthorizer = (req: Req, caller: TokenClaims) => Reply | undefined;

export function registerGraph(router: Router<unknown>, entra: EntraContext, data: GovernanceSeed, faults: ListenerFaults, authorize: MembershipAuthorizer = () => undefined): void {
  registerFaultAdmin(router, faults);
  const handler = async (req: Req) => (await faults.apply(req)) ?? checkMemberGroups(req, entra, data, authorize);
  router.add("POST", "/v1.0/users/{id}/checkMemberGroups", handler);
  router.add("POST", "/v1.0/directoryObjects/{id}/checkMemberGroups", handler);
}

/** Group memberships of a directory object, or undefined when there is no such object. */
function membershipsOf(id: string, entra: EntraContext, data: GovernanceSeed, byUpn: boolean): string[] | undefined {
  const k = id.toLowerCase();
  const p = data.personas.find((x) => x.oid === k || (byUpn && x.upn.toLowerCase() === k));
  if (p) return p.groups;
  // Apps and managed identities are directory objects too; they are in no groups here.
  if (Object.values(entra.state.principals).some((x) => x.objectId.toLowerCase() === k)) return [];
  return undefined;
}

async function checkMemberGroups(req: Req, entra: EntraContext, data: GovernanceSeed, authorize: MembershipAuthorizer): Promise<Reply> {
  const auth = await checkBearer(entra, req, (aud) => graphAudienceOk(aud, req.base));
  if (!auth.ok) {
    const message =
      auth.why === "missing" ? "Access token is empty." : auth.why === "expired" ? "Lifetime validation failed, the token is expired." : auth.why === "audience" ? "Access token validation failure. Invalid audience." : "Access token validation failure.";
    return graphError(req, 401, "InvalidAuthenticationToken", message, {
      "WWW-Authenticate": `Bearer realm="", authorization_uri="${entra.authority()}/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`,
    });
  }
  const denied = authorize(req, auth.claims);
  if (denied) return denied;
  const body = req.body as { groupIds?: unknown } | undefined;
  const ids = body?.groupIds;
  if (!Array.isArray(ids) || ids.some((g) => typeof g !== "string")) return graphError(req, 400, "Request_BadRequest", "The request body must be {\"groupIds\": [<group object ids>]}.");
  if (ids.length > MAX_GROUP_IDS) return graphError(req, 400, "Request_BadRequest", `At most ${MAX_GROUP_IDS} group ids may be checked per request; ${ids.length} were given.`);
  const bad = (ids as string[]).find((g) => !GUID.test(g));
  if (bad !== undefined) return graphError(req, 400, "Request_BadRequest", `Invalid object identifier '${bad}'.`);

  const id = req.params["id"]!;
  const byUpn = req.path.toLowerCase().startsWith("/v1.0/users/");
  const groups = membershipsOf(id, entra, data, byUpn);
  if (!groups) return graphError(req, 404, "Request_ResourceNotFound", `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
  const mine = new Set(groups.map((g) => g.toLowerCase()));
  const value = (ids as string[]).filter((g) => mine.has(g.toLowerCase()));
  return json(200, { "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)", value }, {
    "OData-Version": "4.0",
    "Content-Type": "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
    "request-id": randomUUID(),
    "client-request-id": header(req, "client-request-id") ?? randomUUID(),
  });
}
