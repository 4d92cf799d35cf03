import type { Step } from "../../engine/step.js";
import { removeApiStep } from "./api.js";
import { removeApimStep } from "./apim.js";
import { removeDataSenderStep } from "./data-sender.js";
import { removeDataverseAccessStep } from "./dataverse-access.js";
import { removeFragmentsStep } from "./fragments.js";
import { removeGraphGrantStep } from "./graph-grant.js";
import { removeLoggerStep } from "./logger.js";
import { removeNamedValuesStep } from "./named-values.js";
import { removeTelemetryStep } from "./telemetry.js";

/**
 * Teardown, in the order that leaves no orphan (the engine follows their `needs`): what is bound to
 * the gateway identity first, while it exists; then the API, the fragments, the named values and
 * the logger, each once nothing names it; the instance; the Event Hub. The resource group stays.
 */
export const TEARDOWN_STEPS: readonly Step[] = [
  removeGraphGrantStep,
  removeDataverseAccessStep,
  removeDataSenderStep,
  removeApiStep,
  removeFragmentsStep,
  removeNamedValuesStep,
  removeLoggerStep,
  removeApimStep,
  removeTelemetryStep,
];
