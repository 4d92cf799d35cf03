// The Dataverse Web API stand-in (dataverse listener), limited to what the gateway reads: the
// compliance and entitlement tables under /api/data/v9.2/, with the OData subset in odata.ts,
// Dataverse's error bodies ({"error":{"code":"0x…","message":…}}) and integer option sets.
import { randomUUID } from "node:crypto";
import { HttpError, header, json, type Handler, type Reply, type Req, type Router } from "../http.js";
import type { EntraContext, TokenClaims } from "../entra.js";
import { checkBearer } from "./auth.js";
import { ListenerFaults, registerFaultAdmin } from "./faults.js";
import { DataverseLimits, type Ticket } from "./dataverse-limits.js";
import { ODataError, PARSE_ERROR, checkFilter, matches, parseFilter, parseSelect, parseTop, type ColumnType, type FilterNode } from "./odata.js";
import { OPTION_LABELS, type GovernanceSeed } from "./personas.js";

export const DATA_PATH = "/api/data/v9.2";

export interface EntitySet {
  logicalName: string;
  key: string;
  columns: Record<string, ColumnType>;
  rows: (data: GovernanceSeed) => Record<string, unknown>[];
  /** Choice labels per column (FormattedValue); defaults to the governance option sets. */
  labels?: Record<string, Record<number, string>>;
  /** Row version for `@odata.etag`; defaults to a number derived from the key. */
  version?: (row: Record<string, unknown>) => number;
}

/** Entity sets by their (case-sensitive) names. */
export const ENTITY_SETS: Record<string, EntitySet> = {
  fsi_caicompliancestates: {
    logicalName: "fsi_caicompliancestate",
    key: "fsi_caicompliancestateid",
    columns: { fsi_caicompliancestateid: "Guid", fsi_agentid: "String", fsi_risklevel: "Int32" },
    rows: (d) => d.compliance as unknown as Record<string, unknown>[],
  },
  fsi_cbgentitlementmaterializeds: {
    logicalName: "fsi_cbgentitlementmaterialized",
    key: "fsi_cbgentitlementmaterializedid",
    columns: {
      fsi_cbgentitlementmaterializedid: "Guid",
      fsi_agentid: "String",
      fsi_userupn: "String",
      fsi_pathway: "Int32",
      fsi_decision: "Int32",
      fsi_decisionreason: "Int32",
      fsi_ttlexpiresat: "DateTimeOffset",
    },
    rows: (d) => d.entitlements as unknown as Record<string, unknown>[],
  },
};

/** Query options Dataverse has but the sandbox does not emulate (answered 400, never ignored). */
const SUPPORTED_OPTIONS = ["$select", "$filter", "$top"];

/**
 * Accepted token audiences: the listener's own URL, or any Dataverse org URL. The sandbox cannot
 * listen on `https://org-….crm.dynamics.com`, yet the configuration (and so the gateway's managed
 * identity token request) names that URL; accepting every org URL lets the configured value work
 * unchanged while tokens for other services (Graph, ARM, the gateway API) are still refused.
 */
export function dataverseAudienceOk(aud: string, base: string): boolean {
  const a = aud.replace(/\/+$/, "").toLowerCase();
  return a === base.toLowerCase() || /^https:\/\/[a-z0-9-]+\.crm\d*\.dynamics\.com$/.test(a);
}

export function dataverseError(status: number, code: string, message: string, headers: Record<string, string> = {}): Reply {
  return json(status, { error: { code, message } }, { "OData-Version": "4.0", ...headers });
}

export function dataverseFaults(): ListenerFaults {
  return new ListenerFaults({
    error: (status) => dataverseError(status, status === 503 ? "" : "0x80040216", status === 503 ? "The service is temporarily unavailable (sandbox fault)." : "An unexpected error occurred (sandbox fault)."),
    throttle: (s) =>
      dataverseError(429, "0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds.", { "Retry-After": String(s) }),
  });
}

/**
 * Which principals may read which tables. Any valid token may read for now; the least-privilege
 * security role (read on exactly the tables the policy reads) arrives with a later issue and
 * plugs in here, answering 403 0x80040220 for a missing prvRead privilege.
 */
export function authorizeRead(_caller: TokenClaims, _set: EntitySet): Reply | undefined {
  return undefined;
}

/** A Web API handler that runs after the gate has authenticated and admitted the caller (`ticket.rows` charges rows written). */
export type DataverseHandler = (req: Req, caller: TokenClaims, ticket: Ticket) => Reply | Promise<Reply>;

export type DataverseGate = (h: DataverseHandler, opts?: { countRequest?: boolean }) => Handler;

/** A request replayed from inside a `$batch`: the envelope already took faults and a concurrency slot. */
export interface BatchInnerReq extends Req {
  inBatch?: true;
}

/**
 * Every Web API request passes here: fault mode, bearer token, service-protection limits (per
 * `oid`), then the handler. Requests inside a `$batch` skip the fault mode and the concurrency
 * slot (the envelope holds both) but each one counts against the request limits.
 */
export function dataverseGate(entra: EntraContext, faults: ListenerFaults, limits: DataverseLimits): DataverseGate {
  // `countRequest: false` is for the `$batch` envelope: its inner requests are the ones counted.
  return (h, opts = {}) => async (req) => {
    const inner = (req as BatchInnerReq).inBatch === true;
    if (!inner) {
      const f = await faults.apply(req);
      if (f) return f;
    }
    const auth = await authenticate(req, entra);
    if ("status" in auth) return withRequestId(auth);
    const admitted = limits.admit(String(auth.claims.oid ?? auth.claims.sub ?? ""), { holdSlot: !inner, count: opts.countRequest ?? true });
    if (!admitted.ok) return withRequestId(admitted.reply);
    try {
      let r: Reply;
      try {
        r = await h(req, auth.claims, admitted.ticket);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        r = e.reply;
      }
      r.headers = { ...admitted.ticket.headers(), ...(r.headers ?? {}) };
      return withRequestId(r);
    } finally {
      admitted.ticket.done();
    }
  };
}

/** The caller's claims, or the 401 (with the tenant-discovery challenge) Dataverse answers. */
export async function authenticate(req: Req, entra: EntraContext): Promise<{ claims: TokenClaims } | Reply> {
  const auth = await checkBearer(entra, req, (aud) => dataverseAudienceOk(aud, req.base));
  if (auth.ok) return { claims: auth.claims };
  const authorizationUri = `${entra.authority()}/${entra.state.tenantId}/oauth2/authorize`;
  const msg = auth.why === "missing" ? "Bearer token is missing from the Authorization header." : auth.why === "audience" ? `The token audience '${auth.detail}' is not this organization.` : auth.why === "expired" ? "The access token has expired." : "The access token is invalid.";
  return dataverseError(401, "", msg, { "WWW-Authenticate": `Bearer authorization_uri=${authorizationUri}, resource_id=${req.base}/` });
}

/**
 * The seeded tables' collection read. Other modules own their segments through routes registered
 * before this one with a path predicate (custom tables, EntityDefinitions, identity sets).
 */
/** Decides whether a caller may read a set: undefined, or the 403 to answer. */
export type ReadAuthorizer = (caller: TokenClaims, set: EntitySet) => Reply | undefined;

export function registerDataverse(
  router: Router<unknown>,
  entra: EntraContext,
  data: GovernanceSeed,
  faults: ListenerFaults,
  authorize: ReadAuthorizer = authorizeRead,
  gate: DataverseGate = dataverseGate(entra, faults, new DataverseLimits()),
): void {
  registerFaultAdmin(router, faults);
  router.add(
    "GET",
    `${DATA_PATH}/{set}`,
    gate((req, caller) => {
      const setName = req.params["set"]!;
      const set = ENTITY_SETS[setName];
      if (!set) return dataverseError(404, "0x8006088a", `Resource not found for the segment '${setName}'.`);
      return readEntitySet(req, caller, setName, set, data, authorize);
    }),
  );
}

function withRequestId(r: Reply): Reply {
  r.headers = { "x-ms-service-request-id": randomUUID(), ...(r.headers ?? {}) };
  return r;
}

/** The OData collection read ($select, $filter, $top) of one entity set. */
export async function readEntitySet(req: Req, caller: TokenClaims, setName: string, set: EntitySet, data: GovernanceSeed, authorize: ReadAuthorizer = authorizeRead): Promise<Reply> {
  const denied = authorize(caller, set);
  if (denied) return denied;

  let filter: FilterNode | undefined;
  let select: string[] | undefined;
  let top: number | undefined;
  try {
    for (const k of req.query.keys()) {
      if (k.startsWith("$") && !SUPPORTED_OPTIONS.includes(k)) throw new ODataError(PARSE_ERROR, `The query option '${k}' is not supported by the sandbox Dataverse (supported: ${SUPPORTED_OPTIONS.join(", ")}).`);
    }
    const f = req.query.get("$filter");
    if (f !== null) {
      filter = parseFilter(f);
      checkFilter(filter, set.columns, set.logicalName);
    }
    select = parseSelect(req.query.get("$select"), set.columns, set.logicalName);
    top = parseTop(req.query.get("$top"));
  } catch (e) {
    if (e instanceof ODataError) return dataverseError(400, e.code, e.message);
    throw e;
  }

  let rows = set.rows(data).filter((r) => !filter || matches(filter, r));
  if (top !== undefined) rows = rows.slice(0, top);
  const annotate = wantsFormattedValues(header(req, "prefer"));
  const value = rows.map((r) => shapeRow(r, set, select, annotate));
  const context = `${req.base}${DATA_PATH}/$metadata#${setName}${select ? `(${select.join(",")})` : ""}`;
  const headers: Record<string, string> = { "OData-Version": "4.0", "Content-Type": "application/json; odata.metadata=minimal" };
  const applied = preferAnnotations(header(req, "prefer"));
  if (applied) headers["Preference-Applied"] = applied;
  return json(200, { "@odata.context": context, value }, headers);
}

/** One row as Dataverse returns it: etag, the selected columns (all by default) and the key. */
export function shapeRow(row: Record<string, unknown>, set: EntitySet, select: string[] | undefined, annotate: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { "@odata.etag": `W/"${set.version ? set.version(row) : etagOf(String(row[set.key]))}"` };
  const cols = select ? [...select.filter((c) => c !== set.key), set.key] : Object.keys(set.columns);
  for (const c of cols) {
    const v = row[c] ?? null;
    const labels = (set.labels ?? OPTION_LABELS)[c];
    if (annotate && labels && typeof v === "number" && labels[v]) out[`${c}@OData.Community.Display.V1.FormattedValue`] = labels[v];
    out[c] = v;
  }
  return out;
}

/** A stable row version number derived from the key (rows never change in the seed). */
function etagOf(key: string): number {
  let h = 0;
  for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return 1_000_000 + (h % 9_000_000);
}

export function preferAnnotations(prefer: string | undefined): string | undefined {
  return /odata\.include-annotations\s*=\s*("[^"]*"|[^,\s]+)/i.exec(prefer ?? "")?.[0];
}

/** True when `Prefer: odata.include-annotations=…` names FormattedValue (or a wildcard covering it). */
export function wantsFormattedValues(prefer: string | undefined): boolean {
  const m = /odata\.include-annotations\s*=\s*"?([^"]*)"?/i.exec(prefer ?? "");
  if (!m) return false;
  return m[1]!.split(",").some((p) => {
    const x = p.trim();
    return x === "*" || x === "OData.Community.Display.V1.FormattedValue" || x === "OData.Community.Display.V1.*";
  });
}
