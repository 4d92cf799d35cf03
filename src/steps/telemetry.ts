import { createHash } from "node:crypto";
import type { LoggerContract } from "@azure/arm-apimanagement";
import type { RoleAssignment } from "@azure/arm-authorization";
import type { EHNamespace, Eventhub } from "@azure/arm-eventhub";
import { azureCode, orMissing } from "../azure/errors.js";
import { readSecretFile } from "../azure/credentials.js";
import { diffFields } from "../engine/plan.js";
import type { Change, RunContext, Step } from "../engine/types.js";
import { ConfigError, ExitCode, UserError } from "../errors.js";
import { apimReady, serviceName } from "./apim-context.js";

/** Built-in role "Azure Event Hubs Data Sender": send only, nothing else. */
export const EVENT_HUBS_DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";

export interface TelemetryObserved {
  namespace?: EHNamespace;
  hub?: Eventhub;
  /** Assignments of the APIM identity on the hub (any name: someone may have made one by hand). */
  assignments: RoleAssignment[];
  logger?: LoggerContract;
}

/**
 * Seed step 6, Azure part: the Event Hubs namespace and hub, the Data Sender role for the APIM
 * identity on the hub (least privilege: not the namespace), and the `azureEventHub` logger, with
 * the managed identity unless a connection string is configured. It runs before the fragments:
 * APIM rejects a policy whose `log-to-eventhub` names a logger that does not exist yet.
 */
export const telemetryStep: Step<TelemetryObserved> = {
  id: "telemetry",
  title: "Event Hub, Data Sender role and decision logger",
  needs: ["apim"],
  requiredRole:
    "Contributor on the resource group, plus Owner or User Access Administrator on it for the role assignment (Microsoft.Authorization/roleAssignments/write)",

  async observe(ctx) {
    const { resourceGroup, telemetry } = ctx.config;
    const principalId = ctx.outputs.apim?.principalId;
    const [namespace, hub, logger] = await Promise.all([
      orMissing(ctx.arm.eventHub.namespaces.get(resourceGroup, telemetry.namespace)),
      orMissing(ctx.arm.eventHub.eventHubs.get(resourceGroup, telemetry.namespace, telemetry.eventHub)),
      apimReady(ctx) ? orMissing(ctx.arm.apim.logger.get(resourceGroup, serviceName(ctx), telemetry.loggerId)) : undefined,
    ]);
    const assignments: RoleAssignment[] = [];
    if (hub && principalId) {
      for await (const a of ctx.arm.authorization.roleAssignments.listForScope(hubId(ctx), { filter: `principalId eq '${principalId}'` })) {
        assignments.push(a);
      }
    }
    return { namespace, hub, assignments, logger };
  },

  plan(ctx, observed): Change[] {
    return [namespaceChange(ctx, observed), hubChange(ctx, observed), roleChange(ctx, observed), loggerChange(ctx, observed)];
  },

  outputs(ctx, { hub }) {
    return { eventHubId: hub?.id, loggerId: ctx.config.telemetry.loggerId };
  },
};

function hubId(ctx: RunContext): string {
  const { subscriptionId, resourceGroup, telemetry } = ctx.config;
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.EventHub/namespaces/${telemetry.namespace}/eventhubs/${telemetry.eventHub}`;
}

function namespaceChange(ctx: RunContext, { namespace }: TelemetryObserved): Change {
  const { resourceGroup, location, telemetry } = ctx.config;
  const resource = `namespaces/${telemetry.namespace}`;
  if (namespace && namespace.sku?.name === telemetry.sku) return { action: "ok", resource, fields: [] };
  return {
    action: namespace ? "update" : "create",
    resource,
    fields: [{ field: "sku", from: namespace?.sku?.name, to: telemetry.sku }, ...(namespace ? [] : [{ field: "location", to: location }])],
    write: async (c) => {
      await c.arm.eventHub.namespaces.createOrUpdate(resourceGroup, telemetry.namespace, {
        location,
        sku: { name: telemetry.sku, tier: telemetry.sku, capacity: 1 },
        minimumTlsVersion: "1.2",
        tags: { "managed-by": "aeg" },
      }, { updateIntervalInMs: c.pollIntervalMs });
    },
  };
}

function hubChange(ctx: RunContext, { hub }: TelemetryObserved): Change {
  const { resourceGroup, telemetry } = ctx.config;
  const resource = `namespaces/${telemetry.namespace}/eventhubs/${telemetry.eventHub}`;
  const desired = { partitionCount: telemetry.partitionCount, messageRetentionInDays: telemetry.messageRetentionInDays };
  const fields = diffFields(desired, hub as Record<string, unknown> | undefined);
  if (hub && fields.length === 0) return { action: "ok", resource, fields: [] };
  const put = async (c: RunContext) => {
    await c.arm.eventHub.eventHubs.createOrUpdate(resourceGroup, telemetry.namespace, telemetry.eventHub, desired);
  };
  if (hub && fields.some((f) => f.field === "partitionCount")) {
    // Event Hubs refuses to change a hub's partition count outside dedicated clusters.
    return {
      action: "update",
      resource,
      fields,
      note: "the partition count of an existing hub cannot change",
      write: async () => {
        throw new ConfigError(
          [`telemetry.partitionCount: the hub has ${String(hub.partitionCount)} partitions and Event Hubs cannot change that`],
          "Set telemetry.partitionCount to the live value, or use a new telemetry.eventHub name.",
        );
      },
    };
  }
  return { action: hub ? "update" : "create", resource, fields: hub ? fields : [{ field: "partitionCount", to: telemetry.partitionCount }], write: put };
}

function roleChange(ctx: RunContext, { assignments }: TelemetryObserved): Change {
  const principalId = ctx.outputs.apim?.principalId;
  const { subscriptionId } = ctx.config;
  const roleDefinitionId = `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${EVENT_HUBS_DATA_SENDER}`;
  const resource = "roleAssignments/Azure Event Hubs Data Sender";
  const held = assignments.some((a) => a.roleDefinitionId?.toLowerCase().endsWith(`/${EVENT_HUBS_DATA_SENDER}`));
  if (held) return { action: "ok", resource, fields: [] };
  return {
    action: "create",
    resource,
    fields: [
      { field: "principalId", to: principalId ?? "(the APIM identity, once it exists)" },
      { field: "scope", to: hubId(ctx) },
    ],
    write: async (c) => {
      const principal = c.outputs.apim?.principalId;
      if (!principal) throw new UserError("telemetry: the APIM instance has no system-assigned identity yet", ExitCode.unexpected, "Re-run aeg setup once step apim has completed.");
      const scope = hubId(c);
      await assignRole(c, scope, roleAssignmentName(scope, roleDefinitionId, principal), {
        roleDefinitionId,
        principalId: principal,
        principalType: "ServicePrincipal",
      });
    },
  };
}

/** Same inputs, same name: a re-run PUTs the same assignment instead of making a second one. */
export function roleAssignmentName(scope: string, roleDefinitionId: string, principalId: string): string {
  const hash = createHash("sha1").update(`${scope.toLowerCase()}|${roleDefinitionId.toLowerCase()}|${principalId.toLowerCase()}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50; // version 5 (name-based, SHA-1)
  hash[8] = (hash[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function assignRole(ctx: RunContext, scope: string, name: string, body: { roleDefinitionId: string; principalId: string; principalType: "ServicePrincipal" }): Promise<void> {
  // A new identity can take a while to replicate in Entra: PrincipalNotFound is retried briefly.
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.arm.authorization.roleAssignments.create(scope, name, body);
      return;
    } catch (err) {
      if (azureCode(err) === "RoleAssignmentExists") return; // made by someone else under another name: fine
      if (azureCode(err) !== "PrincipalNotFound" || attempt >= 5) throw err;
      ctx.progress(`waiting for the new identity to replicate (attempt ${attempt})`);
      await new Promise((r) => setTimeout(r, ctx.pollIntervalMs * attempt));
    }
  }
}

function loggerChange(ctx: RunContext, { logger, namespace }: TelemetryObserved): Change {
  const { resourceGroup, telemetry } = ctx.config;
  const resource = `loggers/${telemetry.loggerId}`;
  const endpointAddress = namespaceHost(namespace, `${telemetry.namespace}.${ctx.cloud.serviceBusSuffix}`);
  const usesConnectionString = Boolean(telemetry.connectionString);
  const desired: Record<string, unknown> = {
    loggerType: "azureEventHub",
    description: "AEG per-decision telemetry",
    ...(usesConnectionString ? {} : { credentials: { endpointAddress, identityClientId: "SystemAssigned", name: telemetry.eventHub } }),
  };
  const observed = logger ? { loggerType: logger.loggerType, description: logger.description, credentials: logger.credentials } : undefined;
  const fields = diffFields(desired, observed);
  if (logger && fields.length === 0) {
    return usesConnectionString
      ? { action: "unverifiable", resource, fields: [], note: "a connection-string logger's credentials cannot be read back" }
      : { action: "ok", resource, fields: [] };
  }
  return {
    action: logger ? "update" : "create",
    resource,
    fields: fields.map((f) => (f.field === "credentials" && usesConnectionString ? { field: f.field, secret: true } : f)),
    apimWrite: true,
    write: async (c) => {
      const credentials: Record<string, string> = usesConnectionString
        ? { name: telemetry.eventHub, connectionString: await readConnectionString(c) }
        : { endpointAddress, identityClientId: "SystemAssigned", name: telemetry.eventHub };
      await c.arm.apim.logger.createOrUpdate(resourceGroup, serviceName(c), telemetry.loggerId, {
        loggerType: "azureEventHub",
        description: "AEG per-decision telemetry",
        credentials,
        resourceId: hubId(c),
        isBuffered: true,
      });
    },
  };
}

/** The namespace's host as Azure reports it, else the cloud's form (before the namespace exists). */
function namespaceHost(namespace: EHNamespace | undefined, fallback: string): string {
  const endpoint = namespace?.serviceBusEndpoint;
  return endpoint ? new URL(endpoint).hostname : fallback;
}

async function readConnectionString(ctx: RunContext): Promise<string> {
  const source = ctx.config.telemetry.connectionString!;
  if (source.fromFile) return readSecretFile(source.fromFile, "telemetry.connectionString.fromFile");
  const value = process.env[source.fromEnv!];
  if (!value) throw new ConfigError([`telemetry.connectionString.fromEnv: ${source.fromEnv} is not set`], "Export it, or use fromFile.");
  return value;
}
