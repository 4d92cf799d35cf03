import type { StepId } from "../engine/change.js";

const APIM = "API Management Service Contributor (or Contributor) on the resource group";
const DATAVERSE_ADMIN = "Dataverse System Administrator in the governance-store environment";

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
  "graph-grant": "Privileged Role Administrator (or Global Administrator) in Entra ID",
};
