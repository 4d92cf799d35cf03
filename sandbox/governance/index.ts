// Wires the governance stand-ins onto the sandbox listeners: Dataverse tables and Graph
// checkMemberGroups on their listeners, persona routes on the authority. Each running sandbox
// gets its own copy of the seed and its own fault modes (in memory, not persisted).
import type { Router } from "../http.js";
import type { EntraContext } from "../entra.js";
import { registerPersonaRoutes } from "./admin.js";
import { dataverseFaults, registerDataverse } from "./dataverse.js";
import { graphFaults, registerGraph } from "./graph.js";
import { governanceSeed, type GovernanceSeed } from "./personas.js";
import type { ListenerFaults } from "./faults.js";

export interface Governance {
  data: GovernanceSeed;
  faults: { dataverse: ListenerFaults; graph: ListenerFaults };
}

export function mountGovernance(routers: { authority: Router<unknown>; graph: Router<unknown>; dataverse: Router<unknown> }, entra: EntraContext): Governance {
  const data = governanceSeed();
  const faults = { dataverse: dataverseFaults(), graph: graphFaults() };
  registerDataverse(routers.dataverse, entra, data, faults.dataverse);
  registerGraph(routers.graph, entra, data, faults.graph);
  registerPersonaRoutes(routers.authority, entra, data);
  return { data, faults };
}
