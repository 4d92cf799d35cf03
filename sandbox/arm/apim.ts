// Microsoft.ApiManagement service lifecycle: create (time-based activation), update, soft delete,
// restore, purge, and the operation status/result URLs the service LROs point to.
import { randomUUID } from "node:crypto";
import { json, type Reply, type Req } from "../http.js";
import type { ApimService, OperationRecord } from "../store.js";
import {
  bareEtag,
  body,
  fail,
  key,
  locationName,
  newEtag,
  newOperation,
  pollCountBased,
  props,
  requireResourceGroup,
  resourceNotFound,
  retryAfter,
  validationError,
  type ArmContext,
  type ArmRouter,
} from "./common.js";

export const APIM_API = "2024-05-01";
const SERVICE_TYPE = "Microsoft.ApiManagement/service";
const SERVICE_NAME = /^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
/** Soft-deleted services are kept 48 hours on Azure. */
const RETENTION_MS = 48 * 3600_000;
const READ_ONLY = [
  "provisioningState",
  "targetProvisioningState",
  "createdAtUtc",
  "gatewayUrl",
  "gatewayRegionalUrl",
  "portalUrl",
  "managementApiUrl",
  "scmUrl",
  "developerPortalUrl",
  "publicIPAddresses",
  "privateIPAddresses",
  "outboundPublicIPAddresses",
  "platformVersion",
  "restore",
];

export function serviceId(ctx: ArmContext, svc: ApimService): string {
  return `/subscriptions/${ctx.state.subscriptionId}/resourceGroups/${svc.resourceGroup}/providers/${SERVICE_TYPE}/${svc.name}`;
}

export function serviceState(svc: ApimService, now = Date.now()): "Created" | "Activating" | "Succeeded" {
  if (now >= svc.readyAt) return "Succeeded";
  // The first quarter of the activation time reports Created, as Azure's first GETs do.
  return now < svc.createdAt + (svc.readyAt - svc.createdAt) / 4 ? "Created" : "Activating";
}

function renderService(ctx: ArmContext, svc: ApimService): Record<string, unknown> {
  const state = serviceState(svc);
  const properties: Record<string, unknown> = {
    notificationSenderEmail: "apimgmt-noreply@mail.windowsazure.com",
    virtualNetworkType: "None",
    publicNetworkAccess: "Enabled",
    disableGateway: false,
    natGatewayState: "Disabled",
    ...svc.properties,
    provisioningState: state,
    targetProvisioningState: state === "Succeeded" ? "" : "Activating",
    createdAtUtc: new Date(svc.createdAt).toISOString(),
    hostnameConfigurations: [{ type: "Proxy", hostName: `${svc.name}.azure-api.net`, negotiateClientCertificate: false, defaultSslBinding: true, certificateSource: "BuiltIn" }],
  };
  if (state === "Succeeded") {
    // The gateway listener serves every service under its name; aeg finds it through gatewayUrl.
    properties["gatewayUrl"] = `${ctx.urls.gateway()}/${svc.name}`;
    properties["platformVersion"] = svc.sku.name === "Consumption" ? "mtv1" : "stv2";
  }
  const out: Record<string, unknown> = {
    id: serviceId(ctx, svc),
    name: svc.name,
    type: SERVICE_TYPE,
    location: svc.location,
    etag: bareEtag(svc.etag),
    properties,
    sku: svc.sku,
  };
  if (svc.tags) out["tags"] = svc.tags;
  if (svc.identity) {
    const { type, principalId, tenantId, userAssignedIdentities } = svc.identity;
    out["identity"] = { type, ...(principalId ? { principalId, tenantId } : {}), ...(userAssignedIdentities ? { userAssignedIdentities } : {}) };
  }
  return out;
}

/** Applies an `identity` request: a system-assigned identity gets a new principal (object id + app id). */
function applyIdentity(ctx: ArmContext, svc: ApimService, identity: unknown): void {
  if (identity === undefined) return;
  const type = (identity as { type?: unknown } | null)?.type;
  if (typeof type !== "string") validationError([{ target: "identity.type", message: "Identity type is required." }]);
  const wantsSystem = type.includes("SystemAssigned");
  const had = svc.identity?.principalId;
  if (!wantsSystem && had) delete ctx.state.principals[had];
  if (type === "None") {
    delete svc.identity;
    return;
  }
  const next: NonNullable<ApimService["identity"]> = { type };
  if (wantsSystem) {
    next.principalId = had ?? randomUUID();
    next.appId = svc.identity?.appId ?? randomUUID();
    next.tenantId = ctx.state.tenantId;
    ctx.state.principals[next.principalId] = { objectId: next.principalId, appId: next.appId, displayName: svc.name, kind: "ManagedIdentity" };
  }
  const uai = (identity as { userAssignedIdentities?: unknown }).userAssignedIdentities;
  if (uai) next.userAssignedIdentities = uai;
  svc.identity = next;
}

function writableProperties(p: Record<string, unknown>): Record<string, unknown> {
  const out = { ...p };
  for (const k of READ_ONLY) delete out[k];
  return out;
}

function lroHeaders(ctx: ArmContext, op: OperationRecord, location: string): Record<string, string> {
  const base = `${ctx.urls.arm()}/subscriptions/${ctx.state.subscriptionId}/providers/Microsoft.ApiManagement/locations/${locationName(location)}`;
  return {
    "Azure-AsyncOperation": `${base}/operationStatuses/${op.id}?api-version=${APIM_API}`,
    Location: `${base}/operationResults/${op.id}?api-version=${APIM_API}`,
    ...retryAfter(ctx),
  };
}

export function findService(ctx: ArmContext, req: Req): ApimService {
  requireResourceGroup(ctx, req.params["rg"]!);
  const svc = ctx.state.apim[key(req.params["rg"]!, req.params["svc"]!)];
  if (!svc) resourceNotFound(SERVICE_TYPE, req.params["svc"]!, req.params["rg"]!);
  return svc;
}

export function softDeleteService(ctx: ArmContext, serviceKey: string): void {
  const svc = ctx.state.apim[serviceKey];
  if (!svc) return;
  delete ctx.state.apim[serviceKey];
  ctx.state.deletedApim[svc.name.toLowerCase()] = { service: svc, deletionDate: new Date().toISOString() };
}

function deletedId(ctx: ArmContext, location: string, name: string): string {
  return `/subscriptions/${ctx.state.subscriptionId}/providers/Microsoft.ApiManagement/locations/${locationName(location)}/deletedservices/${name}`;
}

function renderDeleted(ctx: ArmContext, d: { service: ApimService; deletionDate: string }) {
  return {
    id: deletedId(ctx, d.service.location, d.service.name),
    name: d.service.name,
    type: "Microsoft.ApiManagement/deletedservices",
    location: d.service.location,
    properties: {
      serviceId: serviceId(ctx, d.service),
      scheduledPurgeDate: new Date(Date.parse(d.deletionDate) + RETENTION_MS).toISOString(),
      deletionDate: d.deletionDate,
    },
  };
}

/** Drops soft-deleted services whose retention has passed (Azure purges them by itself). */
function expireDeleted(ctx: ArmContext): void {
  for (const [k, d] of Object.entries(ctx.state.deletedApim)) {
    if (Date.parse(d.deletionDate) + RETENTION_MS < Date.now()) {
      if (d.service.identity?.principalId) delete ctx.state.principals[d.service.identity.principalId];
      delete ctx.state.deletedApim[k];
    }
  }
}

function operationStatus(ctx: ArmContext, op: OperationRecord): "InProgress" | "Succeeded" | "Failed" {
  if (op.kind === "apim-service") {
    const svc = op.target ? ctx.state.apim[op.target] : undefined;
    if (!svc) return "Failed";
    if (serviceState(svc) !== "Succeeded") return "InProgress";
    op.endTime ??= new Date(svc.readyAt).toISOString();
    return "Succeeded";
  }
  return pollCountBased(op);
}

export function registerApimService(r: ArmRouter, ctx: ArmContext): void {
  const s = ctx.state;
  const tag = { apiVersion: APIM_API };
  const base = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{svc}";

  r.add("GET", base, (req) => {
    const svc = findService(ctx, req);
    return json(200, renderService(ctx, svc), { ETag: svc.etag });
  }, tag);

  r.add("PUT", base, (req) => {
    const rg = requireResourceGroup(ctx, req.params["rg"]!);
    const name = req.params["svc"]!;
    if (!SERVICE_NAME.test(name) || name.length > 50) validationError([{ target: "serviceName", message: `The service name '${name}' is invalid: use 1-50 letters, digits and hyphens, starting with a letter and ending with a letter or digit.` }]);
    const b = body(req);
    const p = props(b);
    const k = key(rg.name, name);
    const existing = s.apim[k];
    expireDeleted(ctx);
    const deleted = s.deletedApim[name.toLowerCase()];

    if (p["restore"] === true && !existing) {
      // "If restore is specified and set to true all other properties will be ignored."
      if (!deleted) fail(404, "ServiceNotFound", `There is no soft-deleted API Management service named '${name}' to restore.`);
      delete s.deletedApim[name.toLowerCase()];
      const svc = { ...deleted.service, resourceGroup: rg.name, createdAt: Date.now(), readyAt: Date.now() + ctx.opts.apimActivationMs, etag: newEtag() };
      s.apim[k] = svc;
      if (svc.identity?.principalId && svc.identity.appId) {
        s.principals[svc.identity.principalId] = { objectId: svc.identity.principalId, appId: svc.identity.appId, displayName: svc.name, kind: "ManagedIdentity" };
      }
      const op = newOperation(ctx, "apim-service", k);
      return json(201, renderService(ctx, svc), { ETag: svc.etag, ...lroHeaders(ctx, op, svc.location) });
    }
    if (deleted && !existing) {
      fail(409, "ServiceAlreadyExistsInSoftDeletedState", `Api service ${name} was soft-deleted. In order to create the new service with the same name, you have to either undelete the service or purge it. See https://aka.ms/apimsoftdelete.`);
    }
    const location = typeof b["location"] === "string" ? b["location"] : undefined;
    if (!location) fail(400, "LocationRequired", "The location property is required for this definition.");
    const sku = b["sku"] as { name?: unknown; capacity?: unknown } | undefined;
    const missing: { target: string; message: string }[] = [];
    if (!sku || typeof sku.name !== "string") missing.push({ target: "sku", message: "Sku name is required." });
    if (typeof p["publisherEmail"] !== "string" || !p["publisherEmail"]) missing.push({ target: "publisherEmail", message: "Publisher email is required." });
    if (typeof p["publisherName"] !== "string" || !p["publisherName"]) missing.push({ target: "publisherName", message: "Publisher name is required." });
    if (missing.length) validationError(missing);
    const skuOut = { name: sku!.name as string, capacity: typeof sku!.capacity === "number" ? sku!.capacity : sku!.name === "Consumption" ? 0 : 1 };

    if (existing) {
      // Full replace of the writable parts of a live service (Azure queues updates while activating).
      if (serviceState(existing) !== "Succeeded") fail(409, "Conflict", `The API Management service '${name}' is transitioning at this moment. Please try the request again later.`);
      existing.sku = skuOut;
      existing.tags = b["tags"] as Record<string, string> | undefined;
      existing.properties = writableProperties(p);
      applyIdentity(ctx, existing, b["identity"] ?? { type: "None" });
      existing.etag = newEtag();
      return json(200, renderService(ctx, existing), { ETag: existing.etag });
    }
    const now = Date.now();
    const svc: ApimService = {
      name,
      resourceGroup: rg.name,
      location,
      sku: skuOut,
      tags: b["tags"] as Record<string, string> | undefined,
      properties: writableProperties(p),
      createdAt: now,
      readyAt: now + ctx.opts.apimActivationMs,
      etag: newEtag(),
      namedValues: {},
      fragments: {},
      apis: {},
      loggers: {},
    };
    applyIdentity(ctx, svc, b["identity"]);
    s.apim[k] = svc;
    const op = newOperation(ctx, "apim-service", k);
    return json(201, renderService(ctx, svc), { ETag: svc.etag, ...lroHeaders(ctx, op, svc.location) });
  }, tag);

  r.add("PATCH", base, (req) => {
    const svc = findService(ctx, req);
    if (serviceState(svc) !== "Succeeded") fail(409, "Conflict", `The API Management service '${svc.name}' is transitioning at this moment. Please try the request again later.`);
    const b = body(req);
    const p = props(b);
    if (b["sku"]) svc.sku = { ...svc.sku, ...(b["sku"] as ApimService["sku"]) };
    if (b["tags"]) svc.tags = b["tags"] as Record<string, string>;
    svc.properties = { ...svc.properties, ...writableProperties(p) };
    applyIdentity(ctx, svc, b["identity"]);
    svc.etag = newEtag();
    const op = newOperation(ctx, "apim-service-update", key(svc.resourceGroup, svc.name));
    return { status: 202, headers: lroHeaders(ctx, op, svc.location) };
  }, tag);

  r.add("DELETE", base, (req) => {
    requireResourceGroup(ctx, req.params["rg"]!);
    const k = key(req.params["rg"]!, req.params["svc"]!);
    const svc = s.apim[k];
    if (!svc) return { status: 204 };
    softDeleteService(ctx, k);
    const op = newOperation(ctx, "apim-service-delete", k);
    const rendered = renderService(ctx, svc);
    (rendered["properties"] as Record<string, unknown>)["provisioningState"] = "Deleting";
    return json(202, rendered, lroHeaders(ctx, op, svc.location));
  }, tag);

  const list = (filter: (svc: ApimService) => boolean) => (_req: Req): Reply =>
    json(200, { value: Object.values(s.apim).filter(filter).map((svc) => renderService(ctx, svc)) });
  r.add("GET", "/subscriptions/{sub}/providers/Microsoft.ApiManagement/service", list(() => true), tag);
  r.add("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service", (req) => {
    requireResourceGroup(ctx, req.params["rg"]!);
    return list((svc) => svc.resourceGroup.toLowerCase() === req.params["rg"]!.toLowerCase())(req);
  }, tag);

  // Soft-deleted services.
  r.add("GET", "/subscriptions/{sub}/providers/Microsoft.ApiManagement/deletedservices", () => {
    expireDeleted(ctx);
    return json(200, { value: Object.values(s.deletedApim).map((d) => renderDeleted(ctx, d)) });
  }, tag);
  const findDeleted = (req: Req) => {
    expireDeleted(ctx);
    const d = s.deletedApim[req.params["svc"]!.toLowerCase()];
    if (!d || locationName(d.service.location) !== locationName(req.params["location"]!)) {
      fail(404, "ResourceNotFound", `The deleted service '${req.params["svc"]}' was not found in location '${req.params["location"]}'.`);
    }
    return d;
  };
  const deletedPath = "/subscriptions/{sub}/providers/Microsoft.ApiManagement/locations/{location}/deletedservices/{svc}";
  r.add("GET", deletedPath, (req) => json(200, renderDeleted(ctx, findDeleted(req))), tag);
  r.add("DELETE", deletedPath, (req) => {
    const d = findDeleted(req);
    delete s.deletedApim[d.service.name.toLowerCase()];
    if (d.service.identity?.principalId) delete s.principals[d.service.identity.principalId];
    const op = newOperation(ctx, "apim-purge");
    const { Location, ...rest } = lroHeaders(ctx, op, d.service.location);
    void rest;
    // Purge is final-state-via location: only the Location header, like the spec says.
    return json(202, renderDeleted(ctx, d), { Location: Location!, ...retryAfter(ctx) });
  }, tag);

  // Operation status (Azure-AsyncOperation) and result (Location) for the service LROs.
  const opsBase = "/subscriptions/{sub}/providers/Microsoft.ApiManagement/locations/{location}";
  const findOp = (req: Req): OperationRecord => {
    const op = s.operations[req.params["op"]!];
    if (!op) fail(404, "ResourceNotFound", `Operation '${req.params["op"]}' was not found.`);
    return op;
  };
  r.add("GET", `${opsBase}/operationStatuses/{op}`, (req) => {
    const op = findOp(req);
    const status = operationStatus(ctx, op);
    const out: Record<string, unknown> = {
      id: `/subscriptions/${s.subscriptionId}/providers/Microsoft.ApiManagement/locations/${req.params["location"]}/operationStatuses/${op.id}`,
      name: op.id,
      status,
      startTime: op.startTime,
      percentComplete: status === "Succeeded" ? 100 : 50,
    };
    if (status !== "InProgress") out["endTime"] = op.endTime ?? new Date().toISOString();
    if (status === "Failed") out["error"] = { code: "ResourceNotFound", message: "The resource of this operation no longer exists." };
    return json(200, out, status === "InProgress" ? retryAfter(ctx) : {});
  }, tag);
  r.add("GET", `${opsBase}/operationResults/{op}`, (req) => {
    const op = findOp(req);
    const status = operationStatus(ctx, op);
    if (status === "InProgress") return { status: 202, headers: { Location: `${req.base}${req.path}?api-version=${APIM_API}`, ...retryAfter(ctx) } };
    if (status === "Failed") return json(500, { error: { code: "OperationFailed", message: "The operation failed." } });
    const svc = op.target ? s.apim[op.target] : undefined;
    // Create/update results carry the service, like Azure's final Location GET.
    return svc && (op.kind === "apim-service" || op.kind === "apim-service-update") ? json(200, renderService(ctx, svc)) : { status: 200 };
  }, tag);
}
