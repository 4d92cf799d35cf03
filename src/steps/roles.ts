import type { StepId } from "../engine/change.js";

const APIM = "API Management Service Contributor (or Contributor) on the resource group";
const DATAVERSE_ADMIN = "Dataverse System Administrator in the governance-store environment";
const GRAPH_ADMIN = "Privileged Role Administrator (or Global Administrator) in Entra ID";

/** The role each step's reads and writes need, named in permission errors. One table, one place. */
export const STEP_ROLES: Record<StepId, string> = {
  "resource-group": "Contributor on the subscription (Microsoft.Resources/subscriptions/resourceGroups/write)",
  apim: APIM,
  "named-values": APIM,
  telemetry:
    "Contributor on the resource group, plus Owner or User Access Administrator on it for the role assignment (Microsoft.Authorization/roleAssignments/write)",
  fragments: APIM,
  api: APIM,
  "retired-agents": APIM,
  "decision-log": "Dataverse System Administrator (or System Customizer) in the governance-store environment",
  "dataverse-access": DATAVERSE_ADMIN,
  "graph-grant": GRAPH_ADMIN,
  "remove-graph-grant": GRAPH_ADMIN,
  "remove-dataverse-access": DATAVERSE_ADMIN,
  "remove-data-sender": "Owner or User Access Administrator on the Event Hub (Microsoft.Authorization/roleAssignments/delete)",
  "remove-api": APIM,
  "remove-fragments": APIM,
  "remove-named-values": APIM,
  "remove-logger": APIM,
  "remove-apim": "API Management Service Contributor (or Contributor) on the resource group; purging needs Microsoft.ApiManagement/locations/deletedservices/delete on the subscription",
  "remove-telemetry": "Contributor on the resource group (Microsoft.EventHub/namespaces/delete)",
};
