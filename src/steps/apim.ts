import { setTimeout as sleep } from "node:timers/promises";
import type { ApiManagementServiceResource, DeletedServiceContract } from "@azure/arm-apimanagement";
import { orMissing } from "../azure/errors.js";
import { blocked, inSync, seen, type Change, type FieldChange } from "../engine/change.js";
import { defineStep, type RunContext } from "../engine/step.js";
import { ExitCode, UserError } from "../errors.js";
import { AEG_RESOURCE_TAGS } from "./ownership.js";

interface ApimObserved {
  service?: ApiManagementServiceResource;
  deleted?: DeletedServiceContract;
}

interface DesiredService {
  name: string;
  resourceGroup: string;
  location: string;
  sku: { name: string; capacity: number };
  publisherName: string;
  publisherEmail: string;
  /** What to do with a soft-deleted service of the same name (the user's explicit choice). */
  softDeleted: "recover" | "purge" | "refuse";
}

type ServiceBody = Partial<Pick<ApiManagementServiceResource, "location" | "sku" | "identity" | "publisherName" | "publisherEmail" | "tags" | "restore">>;

type ApimOp =
  | { kind: "create"; body: ServiceBody }
  | { kind: "purge-and-create"; body: ServiceBody }
  /** An operation already running in Azure: wait for it instead of starting another. */
  | { kind: "wait" }
  | { kind: "update"; body: ServiceBody };

const IN_PROGRESS = new Set(["created", "activating", "updating", "inprogress", "accepted"]);

export function isProvisioning(service: ApiManagementServiceResource | undefined): boolean {
  return IN_PROGRESS.has((service?.provisioningState ?? "").toLowerCase());
}

export function isReady(service: ApiManagementServiceResource | undefined): boolean {
  return (service?.provisioningState ?? "").toLowerCase() === "succeeded";
}

/** Seed step 1: the APIM instance with a system-assigned managed identity, created or reused. */
export const apimStep = defineStep<DesiredService, ApimObserved, ApimOp>({
  id: "apim",
  title: "API Management instance and managed identity",
  needs: ["resource-group"],

  desired: ({ config, options }) => ({
    name: config.apim.name,
    resourceGroup: config.resourceGroup,
    location: config.location,
    sku: { name: config.apim.sku, capacity: config.apim.capacity ?? (config.apim.sku === "Consumption" ? 0 : 1) },
    publisherName: config.apim.publisherName,
    publisherEmail: config.apim.publisherEmail,
    softDeleted: options.recoverSoftDeleted ? "recover" : options.purgeSoftDeleted ? "purge" : "refuse",
  }),

  async observe(ctx, desired) {
    const { apim } = ctx.clients;
    const service = await orMissing(apim.apiManagementService.get(desired.resourceGroup, desired.name));
    if (service) return { service };
    // A soft-deleted service blocks its name for days; find it before a create fails on it.
    const deleted = await orMissing(apim.deletedServices.getByName(desired.name, desired.location));
    return deleted ? { deleted } : {};
  },

  plan(desired, observed) {
    return apimChanges(desired, observed).map((c) => ({ ...c, seen: seen(observed.service ?? observed.deleted) }));
  },

  async apply(ctx, { op }) {
    switch (op.kind) {
      case "create":
        return createService(ctx, op.body);
      case "purge-and-create":
        await ctx.clients.apim.deletedServices.beginPurgeAndWait(ctx.config.apim.name, ctx.config.location, { updateIntervalInMs: ctx.pollIntervalMs });
        return createService(ctx, op.body);
      case "wait":
        return waitForService(ctx);
      case "update":
        return updateService(ctx, op.body);
    }
  },

  outputs(desired, { service, deleted }) {
    const ready = isReady(service);
    return {
      serviceId: service?.id,
      principalId: ready ? service?.identity?.principalId : undefined,
      identityTenantId: service?.identity?.tenantId,
      gatewayUrl: service?.gatewayUrl,
      ready: ready ? "true" : undefined,
      // Read by gatewayIdentity(): later steps plan around an identity this run will not create.
      identity: !service && deleted && desired.softDeleted === "refuse" ? "blocked" : undefined,
    };
  },
});

function apimChanges(desired: DesiredService, { service, deleted }: ApimObserved): Change<ApimOp>[] {
  const resource = `service/${desired.name}`;
  if (!service && deleted) return [softDeletedChange(desired, deleted)];
  if (!service) {
    return [
      {
        action: "create",
        resource,
        fields: [
          { field: "sku", to: `${desired.sku.name} (${desired.sku.capacity})` },
          { field: "location", to: desired.location },
          { field: "identity", to: "SystemAssigned" },
          { field: "publisherName", to: desired.publisherName },
          { field: "publisherEmail", to: desired.publisherEmail },
        ],
        note: "API Management creation takes 30-90 minutes on Azure; an interrupted run resumes it.",
        op: { kind: "create", body: createBody(desired, false) },
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
        op: { kind: "wait" },
      },
    ];
  }
  const fields = serviceDiff(desired, service);
  if ((service.provisioningState ?? "").toLowerCase() === "failed") {
    fields.push({ field: "provisioningState", from: "Failed", to: "Succeeded" });
  }
  if (fields.length === 0) return [inSync(resource)];
  return [{ action: "update", resource, fields, op: { kind: "update", body: updateBody(desired, service) } }];
}

function hasSystemIdentity(service: ApiManagementServiceResource): boolean {
  return (service.identity?.type ?? "None").includes("SystemAssigned");
}

function serviceDiff(desired: DesiredService, service: ApiManagementServiceResource): FieldChange[] {
  const fields: FieldChange[] = [];
  if (!hasSystemIdentity(service)) fields.push({ field: "identity.type", from: service.identity?.type ?? "None", to: "SystemAssigned" });
  if (service.publisherName !== desired.publisherName) fields.push({ field: "publisherName", from: service.publisherName, to: desired.publisherName });
  if (service.publisherEmail !== desired.publisherEmail) fields.push({ field: "publisherEmail", from: service.publisherEmail, to: desired.publisherEmail });
  if (service.sku.name !== desired.sku.name) fields.push({ field: "sku.name", from: service.sku.name, to: desired.sku.name });
  return fields;
}

function createBody(desired: DesiredService, restore: boolean): ServiceBody {
  return {
    location: desired.location,
    sku: desired.sku as ServiceBody["sku"],
    identity: { type: "SystemAssigned" },
    publisherName: desired.publisherName,
    publisherEmail: desired.publisherEmail,
    tags: { ...AEG_RESOURCE_TAGS },
    ...(restore ? { restore: true } : {}),
  };
}

/** A PATCH that adds the system identity beside any user-assigned ones, and keeps those. */
function updateBody(desired: DesiredService, service: ApiManagementServiceResource): ServiceBody {
  const identity = hasSystemIdentity(service)
    ? service.identity
    : service.identity?.type?.includes("UserAssigned")
      ? { type: "SystemAssigned, UserAssigned", userAssignedIdentities: service.identity.userAssignedIdentities }
      : { type: "SystemAssigned" };
  return {
    identity: identity as ServiceBody["identity"],
    publisherName: desired.publisherName,
    publisherEmail: desired.publisherEmail,
    sku: desired.sku as ServiceBody["sku"],
  };
}

function softDeletedChange(desired: DesiredService, deleted: DeletedServiceContract): Change<ApimOp> {
  const when = deleted.deletionDate ? ` on ${new Date(deleted.deletionDate).toISOString()}` : "";
  const resource = `service/${desired.name}`;
  switch (desired.softDeleted) {
    case "recover":
      return { action: "create", resource, fields: [{ field: "restore", to: true }], note: `recovering the soft-deleted service (deleted${when})`, op: { kind: "create", body: createBody(desired, true) } };
    case "purge":
      return {
        action: "create",
        resource,
        fields: [{ field: "purge", to: true }],
        note: `purging the soft-deleted service (deleted${when}) and creating a new one`,
        op: { kind: "purge-and-create", body: createBody(desired, false) },
      };
    case "refuse":
      return blocked(
        resource,
        `a soft-deleted service of this name exists (deleted${when}); needs --recover-soft-deleted or --purge-soft-deleted`,
        ExitCode.usage,
        "Re-run with --recover-soft-deleted to restore it, or --purge-soft-deleted to delete it for good (its configuration is lost).",
      );
  }
}

async function createService(ctx: RunContext, body: ServiceBody): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  await ctx.journal.record("apim", { operation: { kind: body.restore ? "restore" : "create", resource: `service/${apim.name}`, startedAt: new Date().toISOString() } });
  // Only the initial request: the wait below re-reads the service itself, so a resumed run can
  // re-attach to the same operation without the poller that started it.
  await ctx.clients.apim.apiManagementService.beginCreateOrUpdate(resourceGroup, apim.name, body as ApiManagementServiceResource);
  await waitForService(ctx);
}

async function updateService(ctx: RunContext, body: ServiceBody): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  await ctx.journal.record("apim", { operation: { kind: "update", resource: `service/${apim.name}`, startedAt: new Date().toISOString() } });
  await ctx.clients.apim.apiManagementService.beginUpdate(resourceGroup, apim.name, body);
  await waitForService(ctx);
}

/** Polls the service until its provisioning ends, showing state and elapsed time. */
async function waitForService(ctx: RunContext): Promise<void> {
  const { resourceGroup, apim } = ctx.config;
  const started = Date.parse(ctx.journal.get("apim")?.operation?.startedAt ?? "") || Date.now();
  for (;;) {
    ctx.signal.throwIfAborted();
    const service = await ctx.clients.apim.apiManagementService.get(resourceGroup, apim.name);
    const state = service.provisioningState ?? "Unknown";
    if (state.toLowerCase() === "failed") {
      throw new UserError(`apim: Azure reports provisioning of '${apim.name}' as Failed`, ExitCode.unexpected, "See the activity log of the resource group; re-run aeg setup to try again.");
    }
    if (!isProvisioning(service)) break;
    ctx.progress(`${state}, ${elapsed(Date.now() - started)} elapsed`);
    await sleep(ctx.pollIntervalMs, undefined, { signal: ctx.signal });
  }
  await ctx.journal.record("apim", { operation: undefined });
}

function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
