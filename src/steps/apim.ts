import type { ApiManagementServiceResource, DeletedServiceContract } from "@azure/arm-apimanagement";
import { orMissing } from "../azure/errors.js";
import { ExitCode, UserError } from "../errors.js";
import type { Change, FieldChange, RunContext, Step } from "../engine/types.js";
import { APIM_ROLE } from "./apim-context.js";

export interface ApimObserved {
  service?: ApiManagementServiceResource;
  deleted?: DeletedServiceContract;
}

const IN_PROGRESS = new Set(["created", "activating", "updating", "inprogress", "accepted"]);

export function isProvisioning(service: ApiManagementServiceResource | undefined): boolean {
  return IN_PROGRESS.has((service?.provisioningState ?? "").toLowerCase());
}

export function isReady(service: ApiManagementServiceResource | undefined): boolean {
  return (service?.provisioningState ?? "").toLowerCase() === "succeeded";
}

/** Seed step 1: the APIM instance with a system-assigned managed identity, created or reused. */
export const apimStep: Step<ApimObserved> = {
  id: "apim",
  title: "API Management instance and managed identity",
  needs: ["resource-group"],
  requiredRole: APIM_ROLE,

  async observe(ctx) {
    const { resourceGroup, apim, location } = ctx.config;
    const service = await orMissing(ctx.arm.apim.apiManagementService.get(resourceGroup, apim.name));
    if (service) return { service };
    // A soft-deleted service blocks its name for days; find it before a create fails on it.
    const deleted = await orMissing(ctx.arm.apim.deletedServices.getByName(apim.name, location));
    return deleted ? { deleted } : {};
  },

  plan(ctx, { service, deleted }): Change[] {
    const { apim, location } = ctx.config;
    const resource = `service/${apim.name}`;
    if (!service && deleted) return [softDeletedChange(ctx, deleted)];
    if (!service) {
      return [
        {
          action: "create",
          resource,
          fields: [
            { field: "sku", to: `${apim.sku} (${capacity(ctx)})` },
            { field: "location", to: location },
            { field: "identity", to: "SystemAssigned" },
            { field: "publisherName", to: apim.publisherName },
            { field: "publisherEmail", to: apim.publisherEmail },
          ],
          note: "API Management creation takes 30-90 minutes on Azure; an interrupted run resumes it.",
          write: (c) => createService(c, false),
        },
      ];
    }
    if (isProvisioning(service)) {
      return [
        {
          action: service.provisioningState?.toLowerCase() === "updating" ? "update" : "create",
          resource,
          fields: [{ field: "provisioningState", from: service.provisioningState, to: "Succeeded" }],
          note: "an operation is still running in Azure: this run waits for it instead of starting another",
          write: (c) => waitForService(c),
        },
      ];
    }
    const fields = serviceDiff(ctx, service);
    if ((service.provisioningState ?? "").toLowerCase() === "failed") {
      fields.push({ field: "provisioningState", from: "Failed", to: "Succeeded" });
    }
    if (fields.length === 0) return [{ action: "ok", resource, fields: [] }];
    return [{ action: "update", resource, fields, write: (c) => updateService(c, service) }];
  },

  outputs(_ctx, { service }) {
    return {
      serviceId: service?.id,
      principalId: isReady(service) ? service?.identity?.principalId : undefined,
      identityTenantId: service?.identity?.tenantId,
      gatewayUrl: service?.gatewayUrl,
      ready: isReady(service) ? "true" : undefined,
    };
  },
};

function capacity(ctx: RunContext): number {
  return ctx.config.apim.capacity ?? (ctx.config.apim.sku === "Consumption" ? 0 : 1);
}

function hasSystemIdentity(service: ApiManagementServiceResource): boolean {
  return (service.identity?.type ?? "None").includes("SystemAssigned");
}

function serviceDiff(ctx: RunContext, service: ApiManagementServiceResource): FieldChange[] {
  const { apim } = ctx.config;
  const fields: FieldChange[] = [];
  if (!hasSystemIdentity(service)) fields.push({ field: "identity.type", from: service.identity?.type ?? "None", to: "SystemAssigned" });
  if (service.publisherName !== apim.publisherName) fields.push({ field: "publisherName", from: service.publisherName, to: apim.publisherName });
  if (service.publisherEmail !== apim.publisherEmail) fields.push({ field: "publisherEmail", from: service.publisherEmail, to: apim.publisherEmail });
  if (service.sku.name !== apim.sku) fields.push({ field: "sku.name", from: service.sku.name, to: apim.sku });
  return fields;
}

function softDeletedChange(ctx: RunContext, deleted: DeletedServiceContract): Change {
  const { options } = ctx;
  const { apim } = ctx.config;
  const when = deleted.deletionDate ? ` on ${new Date(deleted.deletionDate).toISOString()}` : "";
  const resource = `service/${apim.name}`;
  if (options.recoverSoftDeleted) {
    return { action: "create", resource, fields: [{ field: "restore", to: true }], note: `recovering the soft-deleted service (deleted${when})`, write: (c) => createService(c, true) };
  }
  if (options.purgeSoftDeleted) {
    return {
      action: "create",
      resource,
      fields: [{ field: "purge", to: true }],
      note: `purging the soft-deleted service (deleted${when}) and creating a new one`,
      write: async (c) => {
        await c.arm.apim.deletedServices.beginPurgeAndWait(apim.name, c.config.location, { updateIntervalInMs: c.pollIntervalMs });
        await createService(c, false);
      },
    };
  }
  return {
    action: "create",
    resource,
    fields: [],
    note: `a soft-deleted service of this name exists (deleted${when}); needs --recover-soft-deleted or --purge-soft-deleted`,
    write: async () => {
      throw new UserError(
        `apim.name: the API Management service '${apim.name}' was soft-deleted${when} and still holds the name`,
        ExitCode.usage,
        "Re-run with --recover-soft-deleted to restore it, or --purge-soft-deleted to delete it for good (its configuration is lost).",
      );
    },
  };
}

async function createService(ctx: RunContext, restore: boolean): Promise<void> {
  const { resourceGroup, apim, location } = ctx.config;
  const body: ApiManagementServiceResource = {
    location,
    sku: { name: apim.sku, capacity: capacity(ctx) },
    identity: { type: "SystemAssigned" },
    publisherName: apim.publisherName,
    publisherEmail: apim.publisherEmail,
    tags: { "managed-by": "aeg" },
    ...(restore ? { restore: true } : {}),
  };
  await ctx.journal.record("apim", { operation: { kind: restore ? "restore" : "create", resource: `service/${apim.name}`, startedAt: new Date().toISOString() } });
  // Only the initial request: the wait below re-reads the service itself, so a resumed run can
  // re-attach to the same operation without the poller that started it.
  await ctx.arm.apim.apiManagementService.beginCreateOrUpdate(resourceGroup, apim.name, body);
  await waitForService(ctx);
}

async function updateService(ctx: RunContext, service: ApiManagementServiceResource): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  const identity = hasSystemIdentity(service)
    ? service.identity
    : service.identity?.type?.includes("UserAssigned")
      ? { type: "SystemAssigned, UserAssigned", userAssignedIdentities: service.identity.userAssignedIdentities }
      : { type: "SystemAssigned" };
  await ctx.journal.record("apim", { operation: { kind: "update", resource: `service/${apim.name}`, startedAt: new Date().toISOString() } });
  await ctx.arm.apim.apiManagementService.beginUpdate(resourceGroup, apim.name, {
    identity: identity as ApiManagementServiceResource["identity"],
    publisherName: apim.publisherName,
    publisherEmail: apim.publisherEmail,
    sku: { name: apim.sku, capacity: capacity(ctx) },
  });
  await waitForService(ctx);
}

/** Polls the service until its provisioning ends, showing state and elapsed time. */
export async function waitForService(ctx: RunContext): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  const started = Date.parse(ctx.journal.get("apim")?.operation?.startedAt ?? "") || Date.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const service = await ctx.arm.apim.apiManagementService.get(resourceGroup, apim.name);
    const state = service.provisioningState ?? "Unknown";
    if (state.toLowerCase() === "failed") {
      throw new UserError(`apim: Azure reports provisioning of '${apim.name}' as Failed`, ExitCode.unexpected, "See the activity log of the resource group; re-run aeg setup to try again.");
    }
    if (!isProvisioning(service)) break;
    ctx.progress(`${state}, ${elapsed(Date.now() - started)} elapsed`);
    await sleep(ctx.pollIntervalMs, ctx.signal);
  }
  await ctx.journal.record("apim", { operation: undefined });
}

function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
