// The APIM instance as teardown's steps observe it, in the states the tables need.
import type { GatewayObserved } from "../../../src/steps/teardown/gateway.js";
import { PRINCIPAL_ID, READY_APIM } from "../../support/seed.js";

const service = (over: Record<string, unknown> = {}) =>
  ({ id: READY_APIM.serviceId, name: "apim-aeg-sandbox", location: "westeurope", sku: { name: "Developer", capacity: 1 }, provisioningState: "Succeeded", identity: { type: "SystemAssigned", principalId: PRINCIPAL_ID }, tags: { "managed-by": "aeg" }, ...over }) as never;

/** aeg's instance, ready. */
export const OURS: GatewayObserved = { service: service(), owned: true, principalId: PRINCIPAL_ID };
/** An instance of the configured name that is neither tagged nor recorded. */
export const THEIRS: GatewayObserved = { service: service({ tags: {} }), owned: false, principalId: PRINCIPAL_ID };
/** Nothing live, nothing soft-deleted, nothing recorded. */
export const GONE: GatewayObserved = { owned: false };
/** aeg's instance, soft-deleted; its identity known from the journal. */
export const SOFT_DELETED: GatewayObserved = { deleted: { serviceId: READY_APIM.serviceId, scheduledPurgeDate: new Date("2026-06-11T10:00:00Z") } as never, owned: true, principalId: PRINCIPAL_ID };
export const activating = (owned = true): GatewayObserved => ({ service: service({ provisioningState: "Activating" }), owned });
export const deleting: GatewayObserved = { service: service({ provisioningState: "Deleting" }), owned: true, principalId: PRINCIPAL_ID };
