// Microsoft.EventHub: namespaces (an LRO through Azure-AsyncOperation, count-based), event hubs
// and their consumer groups.
import { randomUUID } from "node:crypto";
import { json, type Req } from "../http.js";
import type { EhNamespace, ChildRecord, ConsumerGroupRecord } from "../store.js";
import { consumerGroupsOf, DEFAULT_GROUP, findConsumerGroup } from "../eventhubs/consumerGroups.js";
import { body, fail, key, newOperation, pollCountBased, props, requireResourceGroup, resourceNotFound, retryAfter, type ArmContext, type ArmRouter } from "./common.js";

const EVENTHUB_API = "2026-01-01";
const NS = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.EventHub/namespaces/{ns}";
const NS_NAME = /^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$/;
// Consumer group names: 1-50 (the spec's consumerGroupName); letters, digits, '.', '-', '_', a
// letter or digit first and last ("Naming rules and restrictions for Azure resources").
const CG_NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,48}[a-zA-Z0-9])?$/;

export function registerEventHub(r: ArmRouter, ctx: ArmContext): void {
  const s = ctx.state;
  const tag = { apiVersion: EVENTHUB_API };
  const nsId = (ns: EhNamespace) => `/subscriptions/${s.subscriptionId}/resourceGroups/${ns.resourceGroup}/providers/Microsoft.EventHub/namespaces/${ns.name}`;

  /** A namespace is Succeeded once its create operation has been polled to completion. */
  const provisioned = (ns: EhNamespace) => {
    if (!ns.pendingOperation) return true;
    const op = s.operations[ns.pendingOperation];
    if (!op || op.endTime) {
      delete ns.pendingOperation;
      return true;
    }
    return false;
  };
  const renderNs = (ns: EhNamespace) => {
    const done = provisioned(ns);
    const out: Record<string, unknown> = {
      id: nsId(ns),
      name: ns.name,
      type: "Microsoft.EventHub/Namespaces",
      location: ns.location,
      sku: ns.sku,
      tags: ns.tags ?? {},
      properties: {
        minimumTlsVersion: "1.2",
        publicNetworkAccess: "Enabled",
        disableLocalAuth: false,
        zoneRedundant: true,
        isAutoInflateEnabled: false,
        maximumThroughputUnits: 0,
        kafkaEnabled: ns.sku["name"] !== "Basic",
        ...ns.properties,
        provisioningState: done ? "Succeeded" : "Created",
        status: done ? "Active" : "Activating",
        createdAt: ns.createdAt,
        updatedAt: ns.updatedAt,
        serviceBusEndpoint: `https://${ns.name}.servicebus.windows.net:443/`,
        metricId: `${s.subscriptionId}:${ns.name.toLowerCase()}`,
      },
    };
    return out;
  };
  const findNs = (req: Req) => {
    requireResourceGroup(ctx, req.params["rg"]!);
    const ns = s.eventHubNamespaces[key(req.params["rg"]!, req.params["ns"]!)];
    if (!ns) resourceNotFound("Microsoft.EventHub/namespaces", req.params["ns"]!, req.params["rg"]!);
    return ns;
  };

  r.add("GET", NS, (req) => {
    const ns = findNs(req);
    // A GET is a poll too (clients that resume without the operation URL watch the resource).
    const op = ns.pendingOperation ? s.operations[ns.pendingOperation] : undefined;
    if (op) pollCountBased(op);
    return json(200, renderNs(ns));
  }, tag);
  r.add("PUT", NS, (req) => {
    const rg = requireResourceGroup(ctx, req.params["rg"]!);
    const name = req.params["ns"]!;
    if (!NS_NAME.test(name)) fail(400, "BadRequest", `The specified namespace name '${name}' is invalid: use 6-50 letters, digits and hyphens, starting with a letter and ending with a letter or digit.`);
    const b = body(req);
    const location = typeof b["location"] === "string" ? b["location"] : undefined;
    if (!location) fail(400, "LocationRequired", "The location property is required for this definition.");
    const sku = (b["sku"] as Record<string, unknown> | undefined) ?? { name: "Standard" };
    if (!["Basic", "Standard", "Premium"].includes(String(sku["name"]))) fail(400, "BadRequest", `The SKU '${String(sku["name"])}' is not valid. Valid values are Basic, Standard, Premium.`);
    const k = key(rg.name, name);
    const existing = s.eventHubNamespaces[k];
    const now = new Date().toISOString();
    const p = { ...props(b) };
    for (const ro of ["provisioningState", "status", "createdAt", "updatedAt", "serviceBusEndpoint", "metricId"]) delete p[ro];
    const ns: EhNamespace = {
      name: existing?.name ?? name,
      resourceGroup: rg.name,
      location: existing?.location ?? location,
      sku: { name: sku["name"], tier: sku["tier"] ?? sku["name"], capacity: sku["capacity"] ?? 1 },
      tags: b["tags"] as Record<string, string> | undefined,
      properties: p,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      eventHubs: existing?.eventHubs ?? {},
    };
    const op = newOperation(ctx, "eh-namespace", k, req);
    ns.pendingOperation = op.id;
    s.eventHubNamespaces[k] = ns;
    const asyncUrl = `${ctx.urls.arm()}${nsId(ns)}/operationresults/${op.id}?api-version=${EVENTHUB_API}`;
    // Event Hubs answers the create with 200 and the namespace still activating.
    return json(200, renderNs(ns), { "Azure-AsyncOperation": asyncUrl, ...retryAfter(ctx) });
  }, tag);
  r.add("GET", `${NS}/operationresults/{op}`, (req) => {
    const op = s.operations[req.params["op"]!];
    if (!op) fail(404, "NotFound", `Operation '${req.params["op"]}' was not found.`);
    const status = pollCountBased(op);
    const out: Record<string, unknown> = { name: op.id, status, startTime: op.startTime };
    if (op.endTime) out["endTime"] = op.endTime;
    return json(200, out, status === "InProgress" ? retryAfter(ctx) : {});
  }, tag);
  r.add("DELETE", NS, (req) => {
    requireResourceGroup(ctx, req.params["rg"]!);
    const k = key(req.params["rg"]!, req.params["ns"]!);
    const ns = s.eventHubNamespaces[k];
    if (!ns) return { status: 204 };
    // Deleting a namespace deletes its hubs; Azure answers 202 and finishes through Azure-AsyncOperation.
    delete s.eventHubNamespaces[k];
    ctx.events?.forget(ns.name);
    const op = newOperation(ctx, "eh-namespace", k);
    return { status: 202, headers: { "Azure-AsyncOperation": `${ctx.urls.arm()}${nsId(ns)}/operationresults/${op.id}?api-version=${EVENTHUB_API}`, ...retryAfter(ctx) } };
  }, tag);
  r.add("GET", "/subscriptions/{sub}/providers/Microsoft.EventHub/namespaces", () => json(200, { value: Object.values(s.eventHubNamespaces).map(renderNs) }), tag);
  r.add("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.EventHub/namespaces", (req) => {
    requireResourceGroup(ctx, req.params["rg"]!);
    const rg = req.params["rg"]!.toLowerCase();
    return json(200, { value: Object.values(s.eventHubNamespaces).filter((n) => n.resourceGroup.toLowerCase() === rg).map(renderNs) });
  }, tag);

  // --- Event hubs ---
  const renderHub = (ns: EhNamespace, h: ChildRecord) => ({
    id: `${nsId(ns)}/eventhubs/${h.name}`,
    name: h.name,
    type: "Microsoft.EventHub/Namespaces/EventHubs",
    location: ns.location,
    properties: h.properties,
  });
  const findHub = (ns: EhNamespace, name: string) => ns.eventHubs[name.toLowerCase()] ?? resourceNotFound("Microsoft.EventHub/namespaces/eventhubs", `${ns.name}/${name}`, ns.resourceGroup);
  r.add("GET", `${NS}/eventhubs`, (req) => {
    const ns = findNs(req);
    return json(200, { value: Object.values(ns.eventHubs).map((h) => renderHub(ns, h)) });
  }, tag);
  r.add("GET", `${NS}/eventhubs/{hub}`, (req) => {
    const ns = findNs(req);
    return json(200, renderHub(ns, findHub(ns, req.params["hub"]!)));
  }, tag);
  r.add("PUT", `${NS}/eventhubs/{hub}`, (req) => {
    const ns = findNs(req);
    const name = req.params["hub"]!;
    const existing = ns.eventHubs[name.toLowerCase()];
    const p = props(body(req));
    const basic = ns.sku["name"] === "Basic";
    const partitionCount = typeof p["partitionCount"] === "number" ? p["partitionCount"] : ((existing?.properties["partitionCount"] as number | undefined) ?? 4);
    if (existing && partitionCount !== existing.properties["partitionCount"]) fail(400, "BadRequest", "PartitionCount can't be changed for an event hub.");
    if (partitionCount < 1 || partitionCount > 32) fail(400, "BadRequest", `The partition count ${partitionCount} is out of range: it must be between 1 and 32.`);
    const retention = typeof p["messageRetentionInDays"] === "number" ? p["messageRetentionInDays"] : basic ? 1 : 7;
    if (basic && retention > 1) fail(400, "BadRequest", "The message retention period for the Basic tier cannot exceed 1 day.");
    const now = new Date().toISOString();
    const properties: Record<string, unknown> = {
      ...p,
      partitionCount,
      partitionIds: Array.from({ length: partitionCount }, (_, i) => String(i)),
      messageRetentionInDays: retention,
      retentionDescription: { cleanupPolicy: "Delete", retentionTimeInHours: retention * 24 },
      messageTimestampDescription: { timestampType: "LogAppend" },
      status: p["status"] ?? "Active",
      identifier: existing?.properties["identifier"] ?? randomUUID(),
      createdAt: existing?.properties["createdAt"] ?? now,
      updatedAt: now,
    };
    const h = { name: existing?.name ?? name, etag: "", properties };
    ns.eventHubs[name.toLowerCase()] = h;
    return json(200, renderHub(ns, h));
  }, tag);
  r.add("DELETE", `${NS}/eventhubs/{hub}`, (req) => {
    const ns = findNs(req);
    const k = req.params["hub"]!.toLowerCase();
    if (!ns.eventHubs[k]) return { status: 204 };
    delete ns.eventHubs[k];
    delete ns.consumerGroups?.[k]; // its groups go with it
    ctx.events?.forget(ns.name, req.params["hub"]!); // a hub re-created under this name starts empty
    return { status: 200 };
  }, tag);

  // --- Consumer groups ---
  const CG = `${NS}/eventhubs/{hub}/consumergroups`;
  const renderGroup = (ns: EhNamespace, hub: ChildRecord, g: ConsumerGroupRecord) => ({
    id: `${nsId(ns)}/eventhubs/${hub.name}/consumergroups/${g.name}`,
    name: g.name,
    type: "Microsoft.EventHub/Namespaces/EventHubs/ConsumerGroups",
    location: ns.location,
    properties: { createdAt: g.createdAt, updatedAt: g.updatedAt, ...(g.userMetadata !== undefined ? { userMetadata: g.userMetadata } : {}) },
  });
  const findGroup = (ns: EhNamespace, hub: ChildRecord, name: string) =>
    findConsumerGroup(ns, hub.name, name) ?? resourceNotFound("Microsoft.EventHub/namespaces/eventhubs/consumergroups", `${ns.name}/${hub.name}/${name}`, ns.resourceGroup);
  r.add("GET", CG, (req) => {
    const ns = findNs(req);
    const hub = findHub(ns, req.params["hub"]!);
    return json(200, { value: consumerGroupsOf(ns, hub.name)!.map((g) => renderGroup(ns, hub, g)) });
  }, tag);
  r.add("GET", `${CG}/{cg}`, (req) => {
    const ns = findNs(req);
    const hub = findHub(ns, req.params["hub"]!);
    return json(200, renderGroup(ns, hub, findGroup(ns, hub, req.params["cg"]!)));
  }, tag);
  r.add("PUT", `${CG}/{cg}`, (req) => {
    const ns = findNs(req);
    const hub = findHub(ns, req.params["hub"]!);
    const name = req.params["cg"]!;
    // Basic has $Default only, and Event Hubs refuses any consumer-group write there with this
    // message (learn.microsoft.com/azure/event-hubs/resource-manager-exceptions, "Error code: Bad
    // Request"; quoted in hashicorp/terraform-provider-azurerm#17575).
    if (ns.sku["name"] === "Basic") fail(400, "BadRequest", `The operation can't be done on entity type 'ConsumerGroup' because the namespace '${ns.name}' is using 'Basic' tier.`);
    if (!CG_NAME.test(name) && name !== DEFAULT_GROUP) fail(400, "BadRequest", `The specified consumer group name '${name}' is invalid: use 1-50 letters, digits, periods, hyphens and underscores, starting and ending with a letter or digit.`);
    const p = props(body(req));
    const userMetadata = typeof p["userMetadata"] === "string" ? p["userMetadata"] : undefined;
    if (userMetadata !== undefined && userMetadata.length > 1024) fail(400, "BadRequest", "The userMetadata of a consumer group holds at most 1024 characters.");
    const existing = findConsumerGroup(ns, hub.name, name);
    if (existing?.name === DEFAULT_GROUP) return json(200, renderGroup(ns, hub, existing)); // implicit: nothing to store
    const now = new Date().toISOString();
    const g: ConsumerGroupRecord = { name: existing?.name ?? name, createdAt: existing?.createdAt ?? now, updatedAt: now, ...(userMetadata !== undefined ? { userMetadata } : {}) };
    const groups = ((ns.consumerGroups ??= {})[hub.name.toLowerCase()] ??= {});
    groups[name.toLowerCase()] = g;
    return json(200, renderGroup(ns, hub, g));
  }, tag);
  r.add("DELETE", `${CG}/{cg}`, (req) => {
    const ns = findNs(req);
    const hub = findHub(ns, req.params["hub"]!);
    const name = req.params["cg"]!;
    // Sandbox wording: Event Hubs keeps $Default for as long as the hub lives.
    if (name.toLowerCase() === DEFAULT_GROUP.toLowerCase()) fail(400, "BadRequest", `The consumer group '${DEFAULT_GROUP}' is the hub's default and cannot be deleted.`);
    const groups = ns.consumerGroups?.[hub.name.toLowerCase()];
    if (!groups?.[name.toLowerCase()]) return { status: 204 };
    delete groups[name.toLowerCase()];
    return { status: 200 };
  }, tag);
}
