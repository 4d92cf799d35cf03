import { setTimeout as sleep } from "node:timers/promises";
import { orMissing } from "../../azure/errors.js";
import { blocked, inSync, skipped, type Change } from "../../engine/change.js";
import { defineStep, type RunContext } from "../../engine/step.js";
import { ExitCode } from "../../errors.js";
import { observeGateway, provisioning, type GatewayObserved } from "./gateway.js";

interface DesiredRemoval {
  name: string;
  /** --purge: the soft-deleted service is purged too, so the name is free at once. */
  purge: boolean;
}

/** The kinds name what is sent, so the ARM permission table can tell a purge from a soft delete. */
type ApimRemovalOp = { kind: "delete" } | { kind: "delete-and-purge" } | { kind: "purge" } | { kind: "wait-deleted" } | { kind: "wait-deleted-and-purge" };

/** Azure keeps a deleted APIM service this long before purging it by itself. */
const RETENTION_HOURS = 48;

/**
 * The instance itself, once nothing of aeg's is left in it or bound to its identity. APIM soft-
 * deletes it for 48 hours (its name stays taken; `aeg setup --recover-soft-deleted` restores it);
 * with --purge it is purged as well. An instance that is not aeg's blocks the whole teardown.
 */
export const removeApimStep = defineStep<DesiredRemoval, GatewayObserved, ApimRemovalOp>({
  id: "remove-apim",
  title: "API Management instance",
  needs: ["remove-logger"],

  desired: ({ config, options }) => ({ name: config.apim.name, purge: options.purgeSoftDeleted }),

  observe: (ctx) => observeGateway(ctx),

  plan({ name, purge }, gateway): Change<ApimRemovalOp>[] {
    const resource = `service/${name}`;
    const { service, deleted, owned } = gateway;
    if (service && !owned) {
      return [
        blocked(
          resource,
          "not aeg's: it has no managed-by: aeg tag and this environment's journal does not record it, so aeg cannot tell what in it is its own",
          ExitCode.usage,
          "Run teardown where setup ran (its .aeg/state), or tag the instance managed-by=aeg if aeg should remove it and everything it holds.",
        ),
      ];
    }
    if (service && (service.provisioningState ?? "").toLowerCase() === "deleting") {
      return [{ action: "delete", resource, fields: [], note: "a deletion is already running in Azure: this run waits for it", op: { kind: purge ? "wait-deleted-and-purge" : "wait-deleted" } }];
    }
    if (service && provisioning(gateway)) {
      return [blocked(resource, `the instance is ${service.provisioningState}: APIM cannot delete it until that operation ends`, ExitCode.usage, "Wait for it (aeg setup re-attaches to it), then run aeg teardown again.")];
    }
    if (service) {
      const note = purge ? "soft-deleted, then purged: the name is free again at once" : `soft-deleted: Azure keeps it ${RETENTION_HOURS} hours (aeg setup --recover-soft-deleted restores it; aeg teardown --purge frees the name)`;
      return [{ action: "delete", resource, fields: [{ field: "sku", from: service.sku.name, to: null }], note, op: { kind: purge ? "delete-and-purge" : "delete" } }];
    }
    if (!deleted) return [inSync(resource)];
    const until = deleted.scheduledPurgeDate ? ` until ${new Date(deleted.scheduledPurgeDate).toISOString()}` : "";
    if (!purge) return [{ ...inSync(resource), note: `soft-deleted${until}; aeg teardown --purge frees the name` }];
    if (!owned) return [skipped(resource, `a soft-deleted service of this name exists${until}, but this environment's journal does not record it as aeg's: not purged`)];
    return [{ action: "delete", resource: `deletedservices/${name}`, fields: [{ field: "scheduledPurgeDate", from: deleted.scheduledPurgeDate, to: null }], note: "purged: the name is free again", op: { kind: "purge" } }];
  },

  async apply(ctx, { op }) {
    if (op.kind === "delete" || op.kind === "delete-and-purge") await softDelete(ctx);
    if (op.kind === "wait-deleted" || op.kind === "wait-deleted-and-purge") await waitUntilGone(ctx);
    if (op.kind.endsWith("purge")) await purge(ctx);
  },

  // The journal keeps the id of what this step deleted: a later --purge knows the soft-deleted service is aeg's.
  outputs: (_desired, { service, deleted, owned }) => ({
    serviceId: owned ? (service?.id ?? deleted?.serviceId) : undefined,
    scheduledPurgeDate: deleted?.scheduledPurgeDate ? new Date(deleted.scheduledPurgeDate).toISOString() : undefined,
  }),
});

async function softDelete(ctx: RunContext): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  const service = await ctx.clients.apim.apiManagementService.get(resourceGroup, apim.name);
  // Recorded before the request: a run killed during the deletion still knows the service was aeg's.
  await ctx.journal.record("remove-apim", { outputs: { serviceId: service.id }, operation: { kind: "delete", resource: `service/${apim.name}`, startedAt: new Date().toISOString() } });
  await ctx.clients.apim.apiManagementService.beginDeleteAndWait(resourceGroup, apim.name, { updateIntervalInMs: ctx.pollIntervalMs });
  await ctx.journal.record("remove-apim", { operation: undefined });
}

async function purge(ctx: RunContext): Promise<void> {
  const { apim, location } = ctx.config;
  await ctx.clients.apim.deletedServices.beginPurgeAndWait(apim.name, location, { updateIntervalInMs: ctx.pollIntervalMs });
}

/** A deletion started by an earlier run: poll until the service is gone. */
async function waitUntilGone(ctx: RunContext): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  while (await orMissing(ctx.clients.apim.apiManagementService.get(resourceGroup, apim.name))) {
    ctx.progress("Deleting");
    await sleep(ctx.pollIntervalMs, undefined, { signal: ctx.signal });
  }
}
