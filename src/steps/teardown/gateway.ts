import type { ApiManagementServiceResource, DeletedServiceContract } from "@azure/arm-apimanagement";
import { orMissing } from "../../azure/errors.js";
import { skipped, type Change } from "../../engine/change.js";
import type { Journal } from "../../engine/journal.js";
import type { RunContext } from "../../engine/step.js";
import { isProvisioning, isReady } from "../apim.js";
import { taggedByAeg } from "../ownership.js";

/**
 * The APIM instance as every teardown step sees it, and whether it is aeg's: tagged
 * `managed-by: aeg` (aeg created it), or recorded in this environment's journal (setup created or
 * adopted it, or an earlier teardown deleted it). Everything setup makes in and for an instance
 * of aeg's is aeg's too; an instance of someone else's is never touched.
 */
export interface GatewayObserved {
  service?: ApiManagementServiceResource;
  /** The soft-deleted service of the configured name, when no live one exists. */
  deleted?: DeletedServiceContract;
  owned: boolean;
  /** The instance's system-assigned identity: the live one's, else the one setup recorded. */
  principalId?: string;
}

export async function observeGateway(ctx: RunContext): Promise<GatewayObserved> {
  const { resourceGroup, apim, location } = ctx.config;
  const service = await orMissing(ctx.clients.apim.apiManagementService.get(resourceGroup, apim.name));
  const deleted = service ? undefined : await orMissing(ctx.clients.apim.deletedServices.getByName(apim.name, location));
  const recorded = recordedServiceIds(ctx.journal);
  const owned = service ? taggedByAeg(service.tags) || recorded.has(service.id?.toLowerCase() ?? "") : deleted ? recorded.has(deleted.serviceId?.toLowerCase() ?? "") : false;
  // Once the instance is gone, what setup recorded still finds the grants made to its identity.
  const principalId = service ? service.identity?.principalId : ctx.journal.get("apim")?.outputs?.principalId;
  return { ...(service ? { service } : {}), ...(deleted ? { deleted } : {}), owned, ...(principalId ? { principalId } : {}) };
}

function recordedServiceIds(journal: Journal): Set<string> {
  return new Set([journal.get("apim")?.outputs?.serviceId, journal.get("remove-apim")?.outputs?.serviceId].flatMap((id) => (id ? [id.toLowerCase()] : [])));
}

/** A live instance that is not aeg's: teardown leaves it and everything in it alone. */
export function someoneElses(gateway: GatewayObserved): boolean {
  return Boolean(gateway.service) && !gateway.owned;
}

/** Children of the instance can be listed (and deleted) once it is aeg's and has finished provisioning. */
export function childrenReadable(gateway: GatewayObserved): boolean {
  return gateway.owned && isReady(gateway.service);
}

export function provisioning(gateway: GatewayObserved): boolean {
  return isProvisioning(gateway.service);
}

/** What a step plans when the instance belongs to someone else (step remove-apim blocks the run). */
export function leftToItsOwner(resource: string): Change<never> {
  return skipped(resource, "the APIM instance is not aeg's: left in place");
}
