import type { EHNamespace, Eventhub } from "@azure/arm-eventhub";
import { orMissing } from "../../azure/errors.js";
import { inSync, skipped, type Change } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { taggedByAeg } from "../ownership.js";

interface DesiredTelemetryRemoval {
  namespace: string;
  hub: string;
}

export interface TelemetryObserved {
  namespace?: EHNamespace;
  hub?: Eventhub;
  /** Names of the namespace's other hubs: a namespace holding hubs aeg did not make is kept. */
  otherHubs: string[];
  /** The hub id setup recorded: aeg made or adopted this hub even in a namespace it did not make. */
  recordedHubId?: string;
}

type TelemetryRemovalOp = { kind: "hub" } | { kind: "namespace" };

/**
 * Last, once the logger that wrote to it is gone: the Event Hub and its namespace, when aeg made
 * them (the namespace carries managed-by: aeg; the hub is in that namespace or in the journal).
 */
export const removeTelemetryStep = defineStep<DesiredTelemetryRemoval, TelemetryObserved, TelemetryRemovalOp>({
  id: "remove-telemetry",
  title: "Event Hub and namespace",
  needs: ["remove-apim"],

  desired: ({ config }) => ({ namespace: config.telemetry.namespace, hub: config.telemetry.eventHub }),

  async observe(ctx, desired) {
    const { resourceGroup } = ctx.config;
    const { eventHub } = ctx.clients;
    const namespace = await orMissing(eventHub.namespaces.get(resourceGroup, desired.namespace));
    const hubs: Eventhub[] = [];
    if (namespace) for await (const h of eventHub.eventHubs.listByNamespace(resourceGroup, desired.namespace)) hubs.push(h);
    const hub = hubs.find((h) => h.name?.toLowerCase() === desired.hub.toLowerCase());
    const otherHubs = hubs.filter((h) => h !== hub).map((h) => h.name ?? "");
    const recordedHubId = ctx.journal.get("telemetry")?.outputs?.eventHubId;
    return { ...(namespace ? { namespace } : {}), ...(hub ? { hub } : {}), otherHubs, ...(recordedHubId ? { recordedHubId } : {}) };
  },

  plan(desired, { namespace, hub, otherHubs, recordedHubId }) {
    const nsResource = `namespaces/${desired.namespace}`;
    const hubResource = `${nsResource}/eventhubs/${desired.hub}`;
    const ours = taggedByAeg(namespace?.tags);
    const changes: Change<TelemetryRemovalOp>[] = [];
    if (!hub) changes.push(inSync(hubResource));
    else if (ours || (recordedHubId && recordedHubId.toLowerCase() === hub.id?.toLowerCase())) {
      changes.push({ action: "delete", resource: hubResource, fields: [{ field: "partitionCount", from: hub.partitionCount, to: null }], note: "its events go with it", op: { kind: "hub" } });
    } else changes.push(skipped(hubResource, "not made by aeg (its namespace has no managed-by: aeg tag and the journal does not record it): left in place"));
    if (!namespace) changes.push(inSync(nsResource));
    else if (!ours) changes.push(skipped(nsResource, "not made by aeg (no managed-by: aeg tag): left in place"));
    else if (otherHubs.length > 0) changes.push(skipped(nsResource, `also holds ${otherHubs.join(", ")}, which aeg did not make: kept`));
    else changes.push({ action: "delete", resource: nsResource, fields: [{ field: "sku", from: namespace.sku?.name, to: null }], op: { kind: "namespace" } });
    return changes;
  },

  async apply(ctx, { op }) {
    const { resourceGroup, telemetry } = ctx.config;
    const { eventHub } = ctx.clients;
    if (op.kind === "hub") await eventHub.eventHubs.delete(resourceGroup, telemetry.namespace, telemetry.eventHub);
    else await eventHub.namespaces.delete(resourceGroup, telemetry.namespace, { updateIntervalInMs: ctx.pollIntervalMs });
  },

  outputs: () => ({}),
});
