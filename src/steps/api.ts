import type { ApiContract, OperationContract } from "@azure/arm-apimanagement";
import { createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { orMissing } from "../azure/errors.js";
import type { Config } from "../config/schema.js";
import { inSync, ordered, seen, type Change } from "../engine/change.js";
import { diffFields } from "../engine/plan.js";
import { defineStep, type RunContext } from "../engine/step.js";
import { agentSlug } from "../policy/agent-slug.js";
import { POLICY_FORMAT } from "../policy/format.js";
import { policyChange, type StoredPolicy } from "../policy/policy-change.js";
import { renderOperationPolicy } from "../policy/templates.js";
import { apimReady } from "./apim-state.js";

interface ApiObserved {
  api?: ApiContract & { eTag?: string };
  operations: Map<string, OperationContract>;
  apiPolicy?: StoredPolicy;
  operationPolicies: Map<string, StoredPolicy>;
}

interface DesiredOperation {
  id: string;
  agentId: string;
  slug: string;
  displayName: string;
  method: string;
  urlTemplate: string;
}

interface ApiBody {
  displayName: string;
  path: string;
  serviceUrl: string;
  protocols: "https"[];
  subscriptionRequired: false;
}

interface DesiredApi {
  ready: boolean;
  apiId: string;
  body: ApiBody;
  operations: Array<DesiredOperation & { policy: string }>;
  apiPolicy: string;
}

type OperationBody = { displayName: string; method: string; urlTemplate: string; description: string };

/** `ifMatch`: the ETag an update was planned against; APIM answers 412 if the entity changed since. */
type ApiOp =
  | { kind: "api"; body: ApiBody; ifMatch?: string }
  | { kind: "operation"; id: string; body: OperationBody }
  | { kind: "delete-operation"; id: string }
  | { kind: "api-policy"; value: string; ifMatch?: string }
  | { kind: "operation-policy"; id: string; value: string; ifMatch?: string };

/** One operation per agent: the operation, not the caller, decides which agent a request is for. */
function desiredOperations(config: Config): DesiredOperation[] {
  return config.agents.map((agent) => {
    const slug = agentSlug(agent.id);
    return { id: agent.operationId ?? slug, agentId: agent.id, slug, displayName: `Agent ${agent.id}`, method: "POST", urlTemplate: `/${slug}` };
  });
}

/** Seed step 4: the API, its operations, and the inbound/outbound/on-error wiring. */
export const apiStep = defineStep<DesiredApi, ApiObserved, ApiOp>({
  id: "api",
  title: "API, operations and policy wiring",
  needs: ["fragments"],

  desired(input) {
    const { gateway } = input.config;
    return {
      ready: apimReady(input),
      apiId: gateway.apiId,
      // Callers authenticate with Entra tokens, checked by the policy: no APIM subscription keys.
      body: { displayName: gateway.apiDisplayName, path: gateway.apiPath, serviceUrl: gateway.backendUrl, protocols: ["https"], subscriptionRequired: false },
      operations: desiredOperations(input.config).map((op) => ({ ...op, policy: renderOperationPolicy(input.templates, { slug: op.slug }) })),
      apiPolicy: input.templates.apiPolicy,
    };
  },

  async observe(ctx, desired) {
    const observed: ApiObserved = { operations: new Map(), operationPolicies: new Map() };
    if (!desired.ready) return observed;
    const { resourceGroup, apim } = ctx.config;
    const client = ctx.clients.apim;
    observed.api = await orMissing(client.api.get(resourceGroup, apim.name, desired.apiId));
    if (!observed.api) return observed;
    for await (const op of client.apiOperation.listByApi(resourceGroup, apim.name, desired.apiId)) {
      if (op.name) observed.operations.set(op.name, op);
    }
    const [apiPolicy] = await Promise.all([
      readApiPolicy(ctx, desired.apiId),
      eachAtMost(READS_AT_ONCE, [...observed.operations.keys()], async (opId) => {
        const policy = await orMissing(client.apiOperationPolicy.get(resourceGroup, apim.name, desired.apiId, opId, "policy", { format: POLICY_FORMAT }));
        if (policy?.value !== undefined) observed.operationPolicies.set(opId, { value: policy.value, ...(policy.eTag ? { etag: policy.eTag } : {}) });
      }),
    ]);
    observed.apiPolicy = apiPolicy;
    return observed;
  },

  plan(desired, observed) {
    const { apiId } = desired;
    const api = `apis/${apiId}`;
    const wanted = new Set(desired.operations.map((o) => o.id));
    // APIM locks an API while any write under it runs (and briefly after): one at a time under
    // the API's lock, the API first, each operation before its policy (README, "Concurrency").
    const underApi = (after: string[] = []) => ({ after: [api, ...after], lock: api });
    return [
      ordered({ ...apiChange(desired, observed.api), seen: seen(observed.api) }, { after: [], lock: api }),
      ...desired.operations.map((op) => ordered({ ...operationChange(apiId, op, observed.operations.get(op.id)), seen: seen(observed.operations.get(op.id)) }, underApi())),
      // Operations aeg did not ask for would let a caller reach the backend past the per-agent wiring.
      ...[...observed.operations.keys()]
        .filter((id) => !wanted.has(id))
        .map((id): Change<ApiOp> =>
          ordered({ action: "delete", resource: `${api}/operations/${id}`, fields: [], apimWrite: true, op: { kind: "delete-operation", id }, seen: seen(observed.operations.get(id)) }, underApi()),
        ),
      ordered(policyChange<Extract<ApiOp, { kind: "api-policy" }>>(`${api}/policies/policy`, desired.apiPolicy, observed.apiPolicy, { kind: "api-policy", value: desired.apiPolicy }), underApi()),
      ...desired.operations.map((op) =>
        ordered(
          policyChange<Extract<ApiOp, { kind: "operation-policy" }>>(`${api}/operations/${op.id}/policies/policy`, op.policy, observed.operationPolicies.get(op.id), { kind: "operation-policy", id: op.id, value: op.policy }),
          underApi([`${api}/operations/${op.id}`]),
        ),
      ),
    ];
  },

  async apply(ctx, { op }) {
    const { resourceGroup, apim, gateway } = ctx.config;
    const client = ctx.clients.apim;
    switch (op.kind) {
      case "api":
        await client.api.beginCreateOrUpdateAndWait(resourceGroup, apim.name, gateway.apiId, op.body, { updateIntervalInMs: ctx.pollIntervalMs, ...(op.ifMatch ? { ifMatch: op.ifMatch } : {}) });
        return;
      case "operation":
        await client.apiOperation.createOrUpdate(resourceGroup, apim.name, gateway.apiId, op.id, op.body);
        return;
      case "delete-operation":
        await client.apiOperation.delete(resourceGroup, apim.name, gateway.apiId, op.id, "*");
        return;
      case "api-policy":
        await client.apiPolicy.createOrUpdate(resourceGroup, apim.name, gateway.apiId, "policy", { value: op.value, format: POLICY_FORMAT }, op.ifMatch ? { ifMatch: op.ifMatch } : {});
        return;
      case "operation-policy":
        await client.apiOperationPolicy.createOrUpdate(resourceGroup, apim.name, gateway.apiId, op.id, "policy", { value: op.value, format: POLICY_FORMAT }, op.ifMatch ? { ifMatch: op.ifMatch } : {});
        return;
    }
  },

  outputs: (desired, observed) => ({ apiId: observed.api?.id, apiPath: desired.body.path }),
});

/**
 * Operation policies read at once: hundreds of agents in one burst would open as many TLS
 * connections and overdraw ARM's read budget (250, refilled at 25 a second per principal:
 * learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
 */
const READS_AT_ONCE = 32;

async function eachAtMost<T>(limit: number, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * The API-scope policy as stored. Read with a plain request: the SDK's `apiPolicy.get`
 * parses the JSON answer with XML names and drops `value` (Azure/azure-sdk-for-js#31566).
 */
async function readApiPolicy(ctx: RunContext, apiId: string): Promise<StoredPolicy | undefined> {
  const { subscriptionId, resourceGroup, apim } = ctx.config;
  const client = ctx.clients.apim;
  const url =
    `${ctx.cloud.resourceManager}/subscriptions/${subscriptionId}/resourceGroups/${encodeURIComponent(resourceGroup)}` +
    `/providers/Microsoft.ApiManagement/service/${apim.name}/apis/${encodeURIComponent(apiId)}/policies/policy` +
    `?api-version=${client.apiVersion}&format=${POLICY_FORMAT}`;
  const request = createPipelineRequest({ url, method: "GET", abortSignal: ctx.signal });
  const response = await client.sendRequest(request);
  if (response.status === 404) return undefined;
  const body = response.bodyAsText ? (JSON.parse(response.bodyAsText) as { properties?: { value?: string }; error?: { code?: string; message?: string } }) : {};
  if (response.status !== 200) {
    throw new RestError(body.error?.message ?? `GET API policy answered ${response.status}`, { statusCode: response.status, code: body.error?.code, request, response });
  }
  const value = body.properties?.value;
  const etag = response.headers.get("etag");
  return value === undefined ? undefined : { value, ...(etag ? { etag } : {}) };
}

function apiChange(desired: DesiredApi, live: ApiObserved["api"]): Change<ApiOp> {
  const fields = diffFields({ ...desired.body }, live as Record<string, unknown> | undefined);
  const resource = `apis/${desired.apiId}`;
  if (live && fields.length === 0) return inSync(resource);
  return {
    action: live ? "update" : "create",
    resource,
    fields: live ? fields : [{ field: "path", to: desired.body.path }, { field: "serviceUrl", to: desired.body.serviceUrl }],
    apimWrite: true,
    op: { kind: "api", body: desired.body, ...(live?.eTag ? { ifMatch: live.eTag } : {}) },
  };
}

function operationChange(apiId: string, op: DesiredOperation, live: OperationContract | undefined): Change<ApiOp> {
  const wanted = { displayName: op.displayName, method: op.method, urlTemplate: op.urlTemplate };
  const fields = diffFields(wanted, live as Record<string, unknown> | undefined);
  const resource = `apis/${apiId}/operations/${op.id}`;
  if (live && fields.length === 0) return inSync(resource);
  return {
    action: live ? "update" : "create",
    resource,
    fields: live ? fields : [{ field: "urlTemplate", to: `${op.method} ${op.urlTemplate}` }],
    apimWrite: true,
    op: { kind: "operation", id: op.id, body: { ...wanted, description: `Calls agent ${op.agentId}; the operation policy binds it, so no caller can choose another agent.` } },
  };
}
