import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { LoggerContract } from "@azure/arm-apimanagement";
import type { RoleAssignment } from "@azure/arm-authorization";
import type { ConsumerGroup, EHNamespace, Eventhub } from "@azure/arm-eventhub";
import { readSecretFile } from "../azure/credentials.js";
import { azureCode, orMissing } from "../azure/errors.js";
import { sinkConsumerGroup, type Config } from "../config/schema.js";
import { blocked, inSync, ordered, seen, skipped, type Change } from "../engine/change.js";
import { diffFields } from "../engine/plan.js";
import { defineStep, type RunContext } from "../engine/step.js";
import { ConfigError, ExitCode } from "../errors.js";
import { apimReady, gatewayIdentity, principalField, principalOf, waitsOnBlockedIdentity, type GatewayIdentity } from "./apim-state.js";
import { AEG_RESOURCE_TAGS } from "./ownership.js";

/** Built-in role "Azure Event Hubs Data Sender": send only, nothing else. */
export const EVENT_HUBS_DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";

type ConnectionStringSource = NonNullable<Config["telemetry"]["connectionString"]>;

interface DesiredTelemetry {
  apimReady: boolean;
  identity: GatewayIdentity;
  namespace: { name: string; body: { location: string; sku: { name: string; tier: string; capacity: number }; minimumTlsVersion: "1.2"; tags: Record<string, string> } };
  hub: { name: string; body: { partitionCount: number; messageRetentionInDays: number } };
  /** aeg sink's consumer group: `$Default` needs nothing made (every hub has it; on Basic it is the only one). */
  sinkConsumerGroup: { name: string; sku: string };
  /** The hub's resource id: the role's scope and the logger's resource. */
  hubId: string;
  roleDefinitionId: string;
  logger: {
    id: string;
    /** Where the logger connects when the namespace does not exist yet (it reports its own once it does). */
    defaultHost: string;
    /** Set when the logger authenticates with a connection string: where to read it, never its value. */
    connectionString?: ConnectionStringSource;
  };
}

interface TelemetryObserved {
  namespace?: EHNamespace;
  hub?: Eventhub;
  /** Read only when the group is one setup makes (and the hub exists). */
  sinkConsumerGroup?: ConsumerGroup;
  /** Assignments of the APIM identity on the hub (any name: someone may have made one by hand). */
  assignments: RoleAssignment[];
  logger?: LoggerContract;
}

type LoggerCredentials = { endpointAddress: string; identityClientId: "SystemAssigned"; name: string } | { name: string; connectionString: ConnectionStringSource };

type TelemetryOp =
  | { kind: "namespace"; name: string; body: DesiredTelemetry["namespace"]["body"] }
  | { kind: "hub"; namespace: string; name: string; body: DesiredTelemetry["hub"]["body"] }
  | { kind: "consumer-group"; namespace: string; hub: string; name: string }
  /** The principal is the APIM identity, read when the change is applied (it may not exist while planning). */
  | { kind: "role-assignment"; scope: string; roleDefinitionId: string }
  | { kind: "logger"; id: string; description: string; resourceId: string; credentials: LoggerCredentials };

const LOGGER_DESCRIPTION = "AEG per-decision telemetry";

/**
 * Seed step 6, Azure part: the Event Hubs namespace and hub, aeg sink's consumer group (Event Hubs
 * refuses readers without an epoch, such as aeg validate, on a group an event processor reads), the Data Sender role for the APIM
 * identity on the hub (least privilege: not the namespace), and the `azureEventHub` logger, with
 * the managed identity unless a connection string is configured. It runs before the fragments:
 * APIM rejects a policy whose `log-to-eventhub` names a logger that does not exist yet.
 */
export const telemetryStep = defineStep<DesiredTelemetry, TelemetryObserved, TelemetryOp>({
  id: "telemetry",
  title: "Event Hub, Data Sender role and decision logger",
  needs: ["apim"],

  desired(input) {
    const { subscriptionId, resourceGroup, location, telemetry } = input.config;
    return {
      apimReady: apimReady(input),
      identity: gatewayIdentity(input),
      namespace: { name: telemetry.namespace, body: { location, sku: { name: telemetry.sku, tier: telemetry.sku, capacity: 1 }, minimumTlsVersion: "1.2", tags: { ...AEG_RESOURCE_TAGS } } },
      hub: { name: telemetry.eventHub, body: { partitionCount: telemetry.partitionCount, messageRetentionInDays: telemetry.messageRetentionInDays } },
      sinkConsumerGroup: { name: sinkConsumerGroup(telemetry), sku: telemetry.sku },
      hubId: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.EventHub/namespaces/${telemetry.namespace}/eventhubs/${telemetry.eventHub}`,
      roleDefinitionId: `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${EVENT_HUBS_DATA_SENDER}`,
      logger: {
        id: telemetry.loggerId,
        defaultHost: `${telemetry.namespace}.${input.cloud.serviceBusSuffix}`,
        ...(telemetry.connectionString ? { connectionString: telemetry.connectionString } : {}),
      },
    };
  },

  async observe(ctx, desired) {
    const { resourceGroup } = ctx.config;
    const { eventHub, apim, authorization } = ctx.clients;
    const [namespace, hub, logger] = await Promise.all([
      orMissing(eventHub.namespaces.get(resourceGroup, desired.namespace.name)),
      orMissing(eventHub.eventHubs.get(resourceGroup, desired.namespace.name, desired.hub.name)),
      desired.apimReady ? orMissing(apim.logger.get(resourceGroup, ctx.config.apim.name, desired.logger.id)) : undefined,
    ]);
    const group = desired.sinkConsumerGroup.name;
    const sinkGroup = hub && group !== "$Default" ? await orMissing(eventHub.consumerGroups.get(resourceGroup, desired.namespace.name, desired.hub.name, group)) : undefined;
    const assignments: RoleAssignment[] = [];
    if (hub && desired.identity.state === "ready") {
      for await (const a of authorization.roleAssignments.listForScope(desired.hubId, { filter: `principalId eq '${desired.identity.principalId}'` })) {
        assignments.push(a);
      }
    }
    return { namespace, hub, ...(sinkGroup ? { sinkConsumerGroup: sinkGroup } : {}), assignments, logger };
  },

  plan: (desired, observed) => [
    { ...namespaceChange(desired, observed), seen: seen(observed.namespace) },
    { ...hubChange(desired, observed), seen: seen(observed.hub) },
    { ...roleChange(desired, observed), seen: seen(observed.assignments) },
    { ...loggerChange(desired, observed), seen: seen(observed.logger) },
    // Last, so earlier changes keep their places; it waits only for the hub it lives in.
    { ...ordered(consumerGroupChange(desired, observed), { after: [hubResource(desired)] }), seen: seen(observed.sinkConsumerGroup) },
  ],

  async apply(ctx, { op }) {
    const { resourceGroup, apim } = ctx.config;
    const { eventHub } = ctx.clients;
    switch (op.kind) {
      case "namespace":
        await eventHub.namespaces.createOrUpdate(resourceGroup, op.name, op.body, { updateIntervalInMs: ctx.pollIntervalMs });
        return;
      case "hub":
        await eventHub.eventHubs.createOrUpdate(resourceGroup, op.namespace, op.name, op.body);
        return;
      case "consumer-group":
        await eventHub.consumerGroups.createOrUpdate(resourceGroup, op.namespace, op.hub, op.name, {});
        return;
      case "role-assignment":
        return assignRole(ctx, op.scope, op.roleDefinitionId);
      case "logger": {
        const credentials = "connectionString" in op.credentials ? { name: op.credentials.name, connectionString: await readConnectionString(op.credentials.connectionString) } : op.credentials;
        await ctx.clients.apim.logger.createOrUpdate(resourceGroup, apim.name, op.id, {
          loggerType: "azureEventHub",
          description: op.description,
          credentials,
          resourceId: op.resourceId,
          isBuffered: true,
        });
        return;
      }
    }
  },

  outputs: (desired, { hub }) => ({ eventHubId: hub?.id, loggerId: desired.logger.id }),
});

function namespaceChange(desired: DesiredTelemetry, { namespace }: TelemetryObserved): Change<TelemetryOp> {
  const { name, body } = desired.namespace;
  const resource = `namespaces/${name}`;
  if (namespace && namespace.sku?.name === body.sku.name) return inSync(resource);
  return {
    action: namespace ? "update" : "create",
    resource,
    fields: [{ field: "sku", from: namespace?.sku?.name, to: body.sku.name }, ...(namespace ? [] : [{ field: "location", to: body.location }])],
    op: { kind: "namespace", name, body },
  };
}

const hubResource = (desired: DesiredTelemetry) => `namespaces/${desired.namespace.name}/eventhubs/${desired.hub.name}`;

function hubChange(desired: DesiredTelemetry, { hub }: TelemetryObserved): Change<TelemetryOp> {
  const { name, body } = desired.hub;
  const resource = hubResource(desired);
  const fields = diffFields({ ...body }, hub as Record<string, unknown> | undefined);
  if (hub && fields.length === 0) return inSync(resource);
  if (hub && fields.some((f) => f.field === "partitionCount")) {
    // Event Hubs refuses to change a hub's partition count outside dedicated clusters.
    return blocked(
      resource,
      `telemetry.partitionCount: the hub has ${String(hub.partitionCount)} partitions and Event Hubs cannot change that`,
      ExitCode.usage,
      "Set telemetry.partitionCount to the live value, or use a new telemetry.eventHub name.",
      fields,
    );
  }
  return {
    action: hub ? "update" : "create",
    resource,
    fields: hub ? fields : [{ field: "partitionCount", to: body.partitionCount }],
    op: { kind: "hub", namespace: desired.namespace.name, name, body },
  };
}

function consumerGroupChange(desired: DesiredTelemetry, observed: TelemetryObserved): Change<TelemetryOp> {
  const { name, sku } = desired.sinkConsumerGroup;
  const resource = `${hubResource(desired)}/consumergroups/${name}`;
  if (name === "$Default") {
    return skipped(
      resource,
      sku === "Basic"
        ? "the Basic tier has only $Default, so aeg sink reads it and aeg validate cannot read the hub while a sink runs"
        : "every hub has $Default; aeg validate needs another consumer group while a sink reads this one",
    );
  }
  if (observed.hub && observed.sinkConsumerGroup) return inSync(resource);
  return { action: "create", resource, fields: [{ field: "name", to: name }], op: { kind: "consumer-group", namespace: desired.namespace.name, hub: desired.hub.name, name } };
}

function roleChange(desired: DesiredTelemetry, { assignments }: TelemetryObserved): Change<TelemetryOp> {
  const resource = "roleAssignments/Azure Event Hubs Data Sender";
  if (desired.identity.state === "blocked") return waitsOnBlockedIdentity(resource);
  const held = assignments.some((a) => a.roleDefinitionId?.toLowerCase().endsWith(`/${EVENT_HUBS_DATA_SENDER}`));
  if (held) return inSync(resource);
  return {
    action: "create",
    resource,
    fields: [
      principalField(desired.identity),
      { field: "scope", to: desired.hubId },
    ],
    op: { kind: "role-assignment", scope: desired.hubId, roleDefinitionId: desired.roleDefinitionId },
  };
}

function loggerChange(desired: DesiredTelemetry, { logger, namespace }: TelemetryObserved): Change<TelemetryOp> {
  const { id, connectionString } = desired.logger;
  const resource = `loggers/${id}`;
  const endpointAddress = namespace?.serviceBusEndpoint ? new URL(namespace.serviceBusEndpoint).hostname : desired.logger.defaultHost;
  const identityCredentials = { endpointAddress, identityClientId: "SystemAssigned" as const, name: desired.hub.name };
  const wanted: Record<string, unknown> = { loggerType: "azureEventHub", description: LOGGER_DESCRIPTION, ...(connectionString ? {} : { credentials: identityCredentials }) };
  const observed = logger ? { loggerType: logger.loggerType, description: logger.description, credentials: logger.credentials } : undefined;
  const fields = diffFields(wanted, observed);
  if (logger && fields.length === 0) {
    return connectionString ? { action: "unverifiable", resource, fields: [], note: "a connection-string logger's credentials cannot be read back" } : inSync(resource);
  }
  return {
    action: logger ? "update" : "create",
    resource,
    fields: fields.map((f) => (f.field === "credentials" && connectionString ? { field: f.field, secret: true } : f)),
    apimWrite: true,
    op: {
      kind: "logger",
      id,
      description: LOGGER_DESCRIPTION,
      resourceId: desired.hubId,
      credentials: connectionString ? { name: desired.hub.name, connectionString } : identityCredentials,
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

async function assignRole(ctx: RunContext, scope: string, roleDefinitionId: string): Promise<void> {
  const principalId = principalOf(ctx, "telemetry");
  const name = roleAssignmentName(scope, roleDefinitionId, principalId);
  const body = { roleDefinitionId, principalId, principalType: "ServicePrincipal" as const };
  // A new identity can take a while to replicate in Entra: PrincipalNotFound is retried briefly.
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.clients.authorization.roleAssignments.create(scope, name, body);
      return;
    } catch (err) {
      if (azureCode(err) === "RoleAssignmentExists") return; // made by someone else under another name: fine
      if (azureCode(err) !== "PrincipalNotFound" || attempt >= 5) throw err;
      ctx.progress(`waiting for the new identity to replicate (attempt ${attempt})`);
      await sleep(ctx.pollIntervalMs * attempt, undefined, { signal: ctx.signal });
    }
  }
}

async function readConnectionString(source: ConnectionStringSource): Promise<string> {
  if (source.fromFile) return readSecretFile(source.fromFile, "telemetry.connectionString.fromFile");
  const value = process.env[source.fromEnv!];
  if (!value) throw new ConfigError([`telemetry.connectionString.fromEnv: ${source.fromEnv} is not set`], "Export it, or use fromFile.");
  return value;
}
