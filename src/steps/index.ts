import type { Step } from "../engine/types.js";
import type { TemplateSet } from "../policy/templates.js";
import { apiStep } from "./api.js";
import { apimStep } from "./apim.js";
import { dataverseAccessStep } from "./dataverse-access.js";
import { decisionLogStep } from "./decision-log.js";
import { graphGrantStep } from "./graph-grant.js";
import { fragmentsStep } from "./fragments.js";
import { namedValuesStep } from "./named-values.js";
import { resourceGroupStep } from "./resource-group.js";
import { retiredAgentsStep } from "./retired-agents.js";
import { telemetryStep } from "./telemetry.js";

/** The setup steps in seed order; the engine orders them by their `needs`. */
export function setupSteps(templates: TemplateSet): Step[] {
  return [resourceGroupStep, apimStep, namedValuesStep, telemetryStep, fragmentsStep(templates), apiStep(templates), retiredAgentsStep, decisionLogStep, dataverseAccessStep(templates), graphGrantStep] as Step[];
}
