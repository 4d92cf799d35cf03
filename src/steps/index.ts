import type { Step } from "../engine/step.js";
import { apiStep } from "./api.js";
import { apimStep } from "./apim.js";
import { dataverseAccessStep } from "./dataverse-access.js";
import { decisionLogStep } from "./decision-log.js";
import { fragmentsStep } from "./fragments.js";
import { graphGrantStep } from "./graph-grant.js";
import { namedValuesStep } from "./named-values.js";
import { resourceGroupStep } from "./resource-group.js";
import { retiredAgentsStep } from "./retired-agents.js";
import { telemetryStep } from "./telemetry.js";

/** The setup steps in seed order; the engine orders them by their `needs`. */
export const SETUP_STEPS: readonly Step[] = [
  resourceGroupStep,
  apimStep,
  namedValuesStep,
  telemetryStep,
  fragmentsStep,
  apiStep,
  retiredAgentsStep,
  decisionLogStep,
  dataverseAccessStep,
  graphGrantStep,
];
