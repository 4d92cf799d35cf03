import type { ApiContract, OperationContract } from "@azure/arm-apimanagement";
import { createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { orMissing } from "../azure/errors.js";
import type { Config } from "../config/schema.js";
import { blocked, inSync, ordered, seen, type Change } from "../engine/change.js";
import { diffFields } from "../engine/plan.js";
import { defineStep, type RunContext } from "../engine/step.js";
import { agentSlug } from "../policy/agent-slug.js";
import { POLICY_FORMAT } from "../policy/format.js";
import { policyChange, type StoredPolicy } from "../policy/policy-change.js";
import { renderOperationPolicy } from "../policy/templates.js";
import { ExitCode } from "../errors.js";
import { APIM_LIMITS, oversizedPolicy, type ApimSku } from "./apim-limits.js";
import { apimReady } from "./apim-state.js";
import { placeOperations, shardIndexOf, shardOf, type ApiShard } from "./api-shards.js";

/** What one of aeg's APIs holds. */
interface ShardObserved {
  api?: ApiContract & { eTag?: string };
  operations: Map<string, OperationContract>;
  apiPolicy?: StoredPolicy;
  operationPolicies: Map<string, StoredPolicy>;
}

interface ApiObserved {
  /** aeg's APIs by shard index (api-shards.ts); the first is `gateway.apiId`. */
  shards: Map<number, ShardObserved>;
  /** Operations of the instance's other APIs: they count against the instance's limit. */
  otherOperations: number;
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
  gateway: Pick<Config["gateway"], "apiId" | "apiPath" | "apiDisplayName">;
  serviceUrl: string;
  operations: Array<DesiredOperation & { policy: string }>;
  apiPolicy: string;
  sku: ApimSku;
}

type OperationBody = { displayName: string; method: string; urlTemplate: string; description: string };

/** `ifMatch`: the ETag an update was planned against; APIM answers 412 if the entity changed since. */
type ApiOp =
  | { kind: "api"; apiId: string; body: ApiBody; ifMatch?: string }
  | { kind: "delete-api"; apiId: string }
  | { kind: "operation"; apiId: string; id: string; body: OperationBody }
  | { kind: "delete-operation"; apiId: string; id: string }
  | { kind: "api-policy"; apiId: string; value: string; ifMatch?: string }
  | { kind: "operation-policy"; apiId: string; id: string; value: string; ifMatch?: string };

/** One operation per agent: the operation, not the caller, decides which agent a request is for. */
function desiredOperations(config: Config): DesiredOperation[] {
  return config.agents.map((agent) => {
    const slug = agentSlug(agent.id);
    return { id: agent.operationId ?? slug, agentId: agent.id, slug, displayName: `Agent ${agent.id}`, method: "POST", urlTemplate: `/${slug}` };
  });
}

const emptyShard = (): ShardObserved => ({ operations: new Map(), operationPolicies: new Map() });

/**
 * Seed step 4: the API, its operations, and the inbound/outbound/on-error wiring. Past the
 * operations one API holds, the agents go on in more APIs with the same policy (api-shards.ts).
 */
export const apiStep = defineStep<DesiredApi, ApiObserved, ApiOp>({
  id: "api",
  title: "API, operations and policy wiring",
  needs: ["fragments"],

  desired(input) {
    const { gateway } = input.config;
    return {
      ready: apimReady(input),
      gateway: { apiId: gateway.apiId, apiPath: gateway.apiPath, apiDisplayName: gateway.apiDisplayName },
      serviceUrl: gateway.backendUrl,
      operations: desiredOperations(input.config).map((op) => ({ ...op, policy: renderOperationPolicy(input.templates, { slug: op.slug }) })),
      apiPolicy: input.templates.apiPolicy,
      sku: input.config.apim.sku,
    };
  },

  async observe(ctx, desired) {
    const observed: ApiObserved = { shards: new Map(), otherOperations: 0 };
    if (!desired.ready) return observed;
    const { resourceGroup, apim } = ctx.config;
    const client = ctx.clients.apim;
    const shards: number[] = [];
    const others: string[] = [];
    for await (const api of client.api.listByService(resourceGroup, apim.name)) {
      // A revision other than the current one is listed as `id;rev=n`: it counts as its API.
      if (!api.name || api.name.includes(";")) continue;
      const index = shardIndexOf(desired.gateway, api.name);
      if (index === undefined) others.push(api.name);
      else shards.push(index);
    }
    const counts = await Promise.all(others.map(async (apiId) => {
      let n = 0;
      for await (const _ of client.apiOperation.listByApi(resourceGroup, apim.name, apiId)) n++;
      return n;
    }));
    observed.otherOperations = counts.reduce((a, b) => a + b, 0);
    // The APIs are read side by side, their operation policies through one shared cap.
    const read = slots(READS_AT_ONCE);
    const seen = await Promise.all(shards.map(async (index) => [index, await observeShard(ctx, shardOf(desired.gateway, index).apiId, read)] as const));
    for (const [index, shard] of seen.sort((a, b) => a[0] - b[0])) observed.shards.set(index, shard);
    return observed;
  },

  plan(desired, observed) {
    const limits = APIM_LIMITS[desired.sku];
    const live = new Map<string, number[]>();
    for (const [index, shard] of observed.shards) for (const id of shard.operations.keys()) live.set(id, [...(live.get(id) ?? []), index]);
    const placed = placeOperations(desired.operations.map((o) => o.id), live, limits.operationsPerApi);
    const used = new Set([1, ...placed.values()]);
    const indexes = [...new Set([...used, ...observed.shards.keys()])].sort((a, b) => a - b);
    const changes: Change<ApiOp>[] = [];
    const total = observed.otherOperations + desired.operations.length;
    if (total > limits.operations) {
      const fit = Math.max(0, limits.operations - observed.otherOperations);
      changes.push(blocked(
        "apis",
        `agents: ${desired.operations.length} agents need as many operations${observed.otherOperations ? ` beside the ${observed.otherOperations} of the instance's other APIs` : ""}; the ${desired.sku} tier of API Management holds ${limits.operations} per instance: at most ${fit} agents fit`,
        ExitCode.usage,
        `Configure at most ${fit} agents, or choose an apim.sku that holds more (Basic: ${APIM_LIMITS.Basic.operations}; Standard: ${APIM_LIMITS.Standard.operations}).`,
      ));
    }
    for (const index of indexes) {
      const shard = shardOf(desired.gateway, index);
      const here = observed.shards.get(index) ?? emptyShard();
      if (!used.has(index)) {
        // Every agent it served is gone: the API goes with its operations and policies.
        changes.push({ action: "delete", resource: `apis/${shard.apiId}`, fields: [{ field: "path", from: shard.path, to: null }], apimWrite: true, op: { kind: "delete-api", apiId: shard.apiId }, seen: seen(here.api) });
        continue;
      }
      changes.push(...shardChanges(desired, shard, here, desired.operations.filter((o) => placed.get(o.id) === index)));
    }
    return changes;
  },

  async apply(ctx, { op }) {
    const { resourceGroup, apim } = ctx.config;
    const client = ctx.clients.apim;
    switch (op.kind) {
      case "api":
        await client.api.beginCreateOrUpdateAndWait(resourceGroup, apim.name, op.apiId, op.body, { updateIntervalInMs: ctx.pollIntervalMs, ...(op.ifMatch ? { ifMatch: op.ifMatch } : {}) });
        return;
      case "delete-api":
        await client.api.beginDeleteAndWait(resourceGroup, apim.name, op.apiId, "*", { deleteRevisions: true, updateIntervalInMs: ctx.pollIntervalMs });
        return;
      case "operation":
        await client.apiOperation.createOrUpdate(resourceGroup, apim.name, op.apiId, op.id, op.body);
        return;
      case "delete-operation":
        await client.apiOperation.delete(resourceGroup, apim.name, op.apiId, op.id, "*");
        return;
      case "api-policy":
        await client.apiPolicy.createOrUpdate(resourceGroup, apim.name, op.apiId, "policy", { value: op.value, format: POLICY_FORMAT }, op.ifMatch ? { ifMatch: op.ifMatch } : {});
        return;
      case "operation-policy":
        await client.apiOperationPolicy.createOrUpdate(resourceGroup, apim.name, op.apiId, op.id, "policy", { value: op.value, format: POLICY_FORMAT }, op.ifMatch ? { ifMatch: op.ifMatch } : {});
        return;
    }
  },

  outputs: (desired, observed) => ({ apiId: observed.shards.get(1)?.api?.id, apiPath: desired.gateway.apiPath }),
});

/**
 * The writes of one API. APIM locks an API while any write under it runs (and briefly after): one
 * at a time under the API's lock, the API first, operations it no longer serves deleted before new
 * ones take their room, each operation before its policy (README, "Concurrency").
 */
function shardChanges(desired: DesiredApi, shard: ApiShard, here: ShardObserved, operations: DesiredApi["operations"]): Change<ApiOp>[] {
  const { apiId } = shard;
  const api = `apis/${apiId}`;
  const wanted = new Set(operations.map((o) => o.id));
  const underApi = (after: string[] = []) => ({ after: [api, ...after], lock: api });
  // Callers authenticate with Entra tokens, checked by the policy: no APIM subscription keys.
  const body: ApiBody = { displayName: shard.displayName, path: shard.path, serviceUrl: desired.serviceUrl, protocols: ["https"], subscriptionRequired: false };
  // Operations aeg did not ask for here would let a caller reach the backend past the per-agent wiring.
  const deletions = [...here.operations.keys()]
    .filter((id) => !wanted.has(id))
    .map((id): Change<ApiOp> => ordered({ action: "delete", resource: `${api}/operations/${id}`, fields: [], apimWrite: true, op: { kind: "delete-operation", apiId, id }, seen: seen(here.operations.get(id)) }, underApi()));
  const freed = deletions.map((d) => d.resource);
  return [
    ordered({ ...apiChange(apiId, body, here.api), seen: seen(here.api) }, { after: [], lock: api }),
    ...deletions,
    ...operations.map((op) => ordered({ ...operationChange(apiId, op, here.operations.get(op.id)), seen: seen(here.operations.get(op.id)) }, underApi(freed))),
    ordered(sizedPolicyChange(`${api}/policies/policy`, desired.apiPolicy, here.apiPolicy, desired.sku, { kind: "api-policy", apiId, value: desired.apiPolicy }), underApi()),
    ...operations.map((op) =>
      ordered(
        sizedPolicyChange(`${api}/operations/${op.id}/policies/policy`, op.policy, here.operationPolicies.get(op.id), desired.sku, { kind: "operation-policy", apiId, id: op.id, value: op.policy }),
        underApi([`${api}/operations/${op.id}`]),
      ),
    ),
  ];
}

/** A policy document's change, or blocked when APIM would refuse its size. */
function sizedPolicyChange<Op extends Extract<ApiOp, { value: string }>>(resource: string, value: string, live: StoredPolicy | undefined, sku: ApimSku, op: Op): Change<ApiOp> {
  return oversizedPolicy(resource, value, sku, "policy") ?? policyChange<Op>(resource, value, live, op);
}

async function observeShard(ctx: RunContext, apiId: string, read: Slots): Promise<ShardObserved> {
  const { resourceGroup, apim } = ctx.config;
  const client = ctx.clients.apim;
  const observed = emptyShard();
  observed.api = await orMissing(client.api.get(resourceGroup, apim.name, apiId));
  if (!observed.api) return observed;
  for await (const op of client.apiOperation.listByApi(resourceGroup, apim.name, apiId)) {
    if (op.name) observed.operations.set(op.name, op);
  }
  const [apiPolicy] = await Promise.all([
    readApiPolicy(ctx, apiId),
    Promise.all([...observed.operations.keys()].map((opId) => read(async () => {
      const policy = await orMissing(client.apiOperationPolicy.get(resourceGroup, apim.name, apiId, opId, "policy", { format: POLICY_FORMAT }));
      if (policy?.value !== undefined) observed.operationPolicies.set(opId, { value: policy.value, ...(policy.eTag ? { etag: policy.eTag } : {}) });
    }))),
  ]);
  observed.apiPolicy = apiPolicy;
  return observed;
}

/**
 * Operation policies read at once: hundreds of agents in one burst would open as many TLS
 * connections and overdraw ARM's read budget (250, refilled at 25 a second per principal:
 * learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
 */
const READS_AT_ONCE = 32;

type Slots = <T>(fn: () => Promise<T>) => Promise<T>;

/** Runs at most `n` of the calls given to it at once; the others wait their turn, in order. */
function slots(n: number): Slots {
  let free = n;
  const queue: Array<() => void> = [];
  return async (fn) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => queue.push(resolve));
    try {
      return await fn();
    } finally {
      const next = queue.shift();
      if (next) next();
      else free++;
    }
  };
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

function apiChange(apiId: string, body: ApiBody, live: ShardObserved["api"]): Change<ApiOp> {
  const fields = diffFields({ ...body }, live as Record<string, unknown> | undefined);
  const resource = `apis/${apiId}`;
  if (live && fields.length === 0) return inSync(resource);
  return {
    action: live ? "update" : "create",
    resource,
    fields: live ? fields : [{ field: "path", to: body.path }, { field: "serviceUrl", to: body.serviceUrl }],
    apimWrite: true,
    op: { kind: "api", apiId, body, ...(live?.eTag ? { ifMatch: live.eTag } : {}) },
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
    op: { kind: "operation", apiId, id: op.id, body: { ...wanted, description: `Calls agent ${op.agentId}; the operation policy binds it, so no caller can choose another agent.` } },
  };
}
