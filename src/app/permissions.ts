import { explainAzureError } from "../azure/errors.js";
import type { StepReport } from "../engine/change.js";
import { missingArmPermissions, requiredArmActions, type MissingPermission } from "../preflight/arm-permissions.js";
import type { Session } from "./session.js";

/**
 * The ARM actions a plan's writes need that the signed-in identity does not hold where it writes:
 * asked of ARM before the first write, so a missing right stops a run before a 30-90 minute APIM
 * creation rather than after it. Reads only.
 */
export async function missingPermissions(session: Session, plan: StepReport[]): Promise<MissingPermission[]> {
  try {
    return await missingArmPermissions({ clients: { authorization: session.arm.authorization, credential: session.credential }, cloud: session.cloud, config: session.config }, requiredArmActions(plan, session.config));
  } catch (err) {
    throw explainAzureError(err, "permissions", "Reader on the resource group (Microsoft.Authorization/*/read) to check what the identity may do");
  }
}
