// The Microsoft Graph stand-in for groups (graph listener): list, `$search` by name and read one
// group, as `aeg init` uses them to find an agent's audience group. `$search` needs the
// `ConsistencyLevel: eventual` header and matches the start of a word, as Graph's tokenized
// search does; reading groups needs GroupMember.Read.All, Group.Read.All or Directory.Read.All.
import { header, json, type Reply, type Req, type Router } from "../http.js";
import type { EntraContext } from "../entra.js";
import { checkBearer } from "./auth.js";
import type { ListenerFaults } from "./faults.js";
import { graphAudienceOk, graphError } from "./graph.js";
import { GRAPH_APP_ROLES, heldGraphRoles } from "./graph-directory-state.js";
import { GROUPS } from "./personas.js";

const CONTEXT = "https://graph.microsoft.com/v1.0/$metadata";
const READ_GROUPS = ["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"].map((v) => GRAPH_APP_ROLES.find((r) => r.value === v)!.id);
const SEARCHABLE = ["displayName", "description"] as const;
const QUERY_OPTIONS = ["$search", "$select", "$top", "$count"];

type Group = (typeof GROUPS)[number];

export function registerGraphGroups(router: Router<unknown>, entra: EntraContext, faults: ListenerFaults): void {
  const serve = (h: (req: Req) => Reply) => async (req: Req): Promise<Reply> => {
    const fault = await faults.apply(req);
    if (fault) return fault;
    const auth = await checkBearer(entra, req, (aud) => graphAudienceOk(aud, req.base));
    if (!auth.ok) return graphError(req, 401, "InvalidAuthenticationToken", auth.why === "missing" ? "Access token is empty." : "Access token validation failure.");
    const held = heldGraphRoles(entra.state, String(auth.claims.oid));
    if (!READ_GROUPS.some((id) => held.includes(id))) return graphError(req, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    return h(req);
  };
  router.add("GET", "/v1.0/groups", serve(listGroups));
  router.add("GET", "/v1.0/groups/{id}", serve((req) => {
    const group = GROUPS.find((g) => g.id === req.params["id"]!.toLowerCase());
    if (!group) return graphError(req, 404, "Request_ResourceNotFound", `Resource '${req.params["id"]}' does not exist or one of its queried reference-property objects are not present.`);
    return json(200, { "@odata.context": `${CONTEXT}#groups/$entity`, ...project(req, group) });
  }));
}

function listGroups(req: Req): Reply {
  const unknown = [...req.query.keys()].find((k) => k.startsWith("$") && !QUERY_OPTIONS.includes(k));
  if (unknown) return graphError(req, 400, "Request_UnsupportedQuery", `The query option '${unknown}' is not supported by the sandbox Graph.`);
  let groups: Group[] = [...GROUPS];
  const search = req.query.get("$search");
  if (search !== null) {
    if (!/^eventual$/i.test(header(req, "consistencylevel") ?? "")) {
      return graphError(req, 400, "Request_UnsupportedQuery", "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'");
    }
    const matcher = parseSearch(search);
    if (!matcher) return graphError(req, 400, "Request_UnsupportedQuery", `Syntax error in $search '${search}': use "property:term" clauses (displayName, description) joined by OR or AND.`);
    groups = groups.filter(matcher);
  }
  const top = req.query.get("$top");
  const n = top === null ? 100 : Number(top);
  if (!Number.isInteger(n) || n < 1 || n > 999) return graphError(req, 400, "Request_UnsupportedQuery", `Invalid page size specified: '${top}'. Must be between 1 and 999 inclusive.`);
  const select = req.query.get("$select");
  const body: Record<string, unknown> = { "@odata.context": `${CONTEXT}#groups${select ? `(${select})` : ""}` };
  if (req.query.get("$count") === "true") body["@odata.count"] = groups.length;
  body["value"] = groups.slice(0, n).map((g) => project(req, g));
  return json(200, body);
}

/** `"displayName:kb"` clauses joined by OR / AND: a term matches the start of any word of the property. */
function parseSearch(search: string): ((g: Group) => boolean) | undefined {
  const parts = search.trim().split(/\s+(OR|AND)\s+/);
  const clauses: Array<(g: Group) => boolean> = [];
  const joins: string[] = [];
  for (const [i, part] of parts.entries()) {
    if (i % 2 === 1) {
      joins.push(part);
      continue;
    }
    const m = /^"(\w+):([^"]*)"$/.exec(part);
    if (!m || !(SEARCHABLE as readonly string[]).includes(m[1]!) || !m[2]!.trim()) return undefined;
    const prop = m[1] as (typeof SEARCHABLE)[number];
    const term = m[2]!.trim().toLowerCase();
    clauses.push((g) => g[prop].toLowerCase().split(/[^a-z0-9]+/).some((word) => word.startsWith(term)));
  }
  return (g) => clauses.slice(1).reduce((acc, clause, i) => (joins[i] === "AND" ? acc && clause(g) : acc || clause(g)), clauses[0]!(g));
}

function project(req: Req, group: Group): Record<string, unknown> {
  const select = req.query.get("$select");
  const full: Record<string, unknown> = { id: group.id, displayName: group.displayName, description: group.description, securityEnabled: true, mailEnabled: false, groupTypes: [] };
  if (!select) return full;
  const keep = new Set(select.split(",").map((s) => s.trim()));
  return Object.fromEntries(Object.entries(full).filter(([k]) => k === "id" || keep.has(k)));
}
