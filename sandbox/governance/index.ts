// Wires the governance stand-ins onto the sandbox listeners: Dataverse tables and Graph
// checkMemberGroups on their listeners, persona routes on the authority. Each running sandbox
// gets its own copy of the seed and its own fault modes (in memory, not persisted).
import type { Router } from "../http.js";
import type { EntraContext } from "../entra.js";
import { registerPersonaRoutes } from "./admin.js";
import { dataverseFaults, dataverseGate, registerDataverse, type ReadAuthorizer } from "./dataverse.js";
import { DataverseLimits, type DataverseLimitOptions } from "./dataverse-limits.js";
import { DataverseTables, registerDataverseTables } from "./dataverse-tables.js";
import { registerDataverseBatch } from "./dataverse-batch.js";
import { registerDataverseBulk } from "./dataverse-bulk.js";
import { authorizeTableRead, privilegesProperty, registerDataverseIdentity, tableCatalog } from "./dataverse-identity.js";
import { graphFaults, registerGraph } from "./graph.js";
import { authorizeCheckMemberGroups, registerGraphDirectory } from "./graph-directory.js";
import { registerGraphGroups } from "./graph-groups.js";
import { governanceSeed, type GovernanceSeed } from "./personas.js";
import { registerSeedAdmin } from "./seed-admin.js";
import type { ListenerFaults } from "./faults.js";

export interface Governance {
  data: GovernanceSeed;
  faults: { dataverse: ListenerFaults; graph: ListenerFaults };
  dataverse: { limits: DataverseLimits; tables: DataverseTables };
}

export interface GovernanceOptions {
  dataverseLimits?: DataverseLimitOptions;
  /** Pending → Active delay of new alternate keys (ms); default 0. */
  dataverseKeyActivationMs?: number;
  /** Retry-After (seconds) of random 429 faults; default 1. */
  retryAfterSeconds?: number;
}

export function mountGovernance(routers: { authority: Router<unknown>; graph: Router<unknown>; dataverse: Router<unknown> }, entra: EntraContext, opts: GovernanceOptions = {}): Governance {
  const data = governanceSeed();
  const faults = { dataverse: dataverseFaults(), graph: graphFaults() };
  for (const f of Object.values(faults)) f.defaultRetryAfterSeconds = opts.retryAfterSeconds ?? 1;
  // One gate (faults, token, service-protection limits per oid) for the Dataverse Web API.
  const limits = new DataverseLimits(opts.dataverseLimits);
  const gate = dataverseGate(entra, faults.dataverse, limits);
  const tables = new DataverseTables(entra.state, data, { keyActivationMs: opts.dataverseKeyActivationMs, now: opts.dataverseLimits?.now });
  // The security model: a table read needs prvRead<SchemaName> in one of the caller's roles.
  const catalog = tableCatalog(tables);
  const authorize: ReadAuthorizer = (caller, set) => authorizeTableRead(entra, catalog, caller, set.logicalName);
  tables.authorizeRead = authorize;
  tables.extras.push(privilegesProperty(entra.state));
  // Batch and custom tables before the identity routes: those claim every PATCH and keyed GET,
  // while these claim only their own paths (EntityDefinitions of known tables, custom sets).
  registerDataverseBatch(routers.dataverse, gate, tables);
  registerDataverseBulk(routers.dataverse, gate, tables, limits);
  registerDataverseTables(routers.dataverse, gate, tables);
  // Identity routes first: their keyed one-segment paths would otherwise reach the tables' route.
  registerDataverseIdentity(routers.dataverse, entra, gate, catalog, { reads: 0, writes: 0 });
  registerGraphDirectory(routers.graph, entra, faults.graph, { reads: 0, writes: 0 });
  registerGraphGroups(routers.graph, entra, faults.graph);
  registerDataverse(routers.dataverse, entra, data, faults.dataverse, authorize, gate);
  registerGraph(routers.graph, entra, data, faults.graph, (req, caller) => authorizeCheckMemberGroups(entra, req, caller));
  registerPersonaRoutes(routers.authority, entra, data);
  registerSeedAdmin(routers.dataverse, data);
  return { data, faults, dataverse: { limits, tables } };
}
