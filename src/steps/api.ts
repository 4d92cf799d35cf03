import type { ApiContract, OperationContract } from "@azure/arm-apimanagement";
import { createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { orMissing } from "../azure/errors.js";
import type { Config } from "../config/schema.js";
import { diffFields } from "../engine/plan.js";
import type { Change, RunContext, Step } from "../engine/types.js";
import { agentSlug, renderOperationPolicy, type TemplateSet } from "../policy/templates.js";
import { APIM_ROLE, apimReady, serviceName } from "./apim-context.js";
import { policyChange } from "./policy-change.js";
import { POLICY_FORMAT } from "./policy-format.js";
import { assertTemplatesValid } from "./template-lint.js";

export interface ApiObserved {
  api?: ApiContract;
  operations: Map<string, OperationContract>;
  apiPolicy?: string;
  operationPolicies: Map<string, string>;
}

export interface DesiredOperation {
  id: string;
  agentId: string;
  slug: string;
  displayName: string;
  method: string;
  urlTemplate: string;
}

/** One operation per agent: the operation, not the caller, decides which agent a request is for. */
export function desiredOperations(config: Config): DesiredOperation[] {
  return config.agents.map((agent) => {
    const slug = agentSlug(agent.id);
    return { id: agent.operationId ?? slug, agentId: agent.id, slug, displayName: `Agent ${agent.id}`, method: "POST", urlTemplate: `/${slug}` };
  });
}

/** Seed step 4: the API, its operations, and the inbound/outbound/on-error wiring. */
export function apiStep(templates: TemplateSet): Step<ApiObserved> {
  return {
    id: "api",
    title: "API, operations and policy wiring",
    needs: ["fragments"],
    requiredRole: APIM_ROLE,

    async observe(ctx) {
      const observed: ApiObserved = { operations: new Map(), operationPolicies: new Map() };
      if (!apimReady(ctx)) return observed;
      const { resourceGroup, gateway } = ctx.config;
      const svc = serviceName(ctx);
      observed.api = await orMissing(ctx.arm.apim.api.get(resourceGroup, svc, gateway.apiId));
      if (!observed.api) return observed;
      for await (const op of ctx.arm.apim.apiOperation.listByApi(resourceGroup, svc, gateway.apiId)) {
        if (op.name) observed.operations.set(op.name, op);
      }
      const [apiPolicy] = await Promise.all([
        readApiPolicy(ctx),
        ...[...observed.operations.keys()].map(async (opId) => {
          const policy = await orMissing(ctx.arm.apim.apiOperationPolicy.get(resourceGroup, svc, gateway.apiId, opId, "policy", { format: POLICY_FORMAT }));
          if (policy?.value !== undefined) observed.operationPolicies.set(opId, policy.value);
        }),
      ]);
      observed.apiPolicy = apiPolicy;
      return observed;
    },

    plan(ctx, observed): Change[] {
      assertTemplatesValid(templates, ctx);
      const { gateway } = ctx.config;
      const ops = desiredOperations(ctx.config);
      const wanted = new Set(ops.map((o) => o.id));
      return [
        apiChange(ctx, observed.api),
        ...ops.map((op) => operationChange(ctx, op, observed.operations.get(op.id))),
        // Operations aeg did not ask for would let a caller reach the backend past the per-agent wiring.
        ...[...observed.operations.keys()]
          .filter((id) => !wanted.has(id))
          .map<Change>((id) => ({
            action: "delete",
            resource: `apis/${gateway.apiId}/operations/${id}`,
            fields: [],
            apimWrite: true,
            write: async (c) => {
              await c.arm.apim.apiOperation.delete(c.config.resourceGroup, serviceName(c), gateway.apiId, id, "*");
            },
          })),
        policyChange(`apis/${gateway.apiId}/policies/policy`, templates.apiPolicy, observed.apiPolicy, async (c) => {
          await c.arm.apim.apiPolicy.createOrUpdate(c.config.resourceGroup, serviceName(c), gateway.apiId, "policy", { value: templates.apiPolicy, format: POLICY_FORMAT });
        }),
        ...ops.map((op) => {
          const xml = renderOperationPolicy(templates, { slug: op.slug });
          return policyChange(`apis/${gateway.apiId}/operations/${op.id}/policies/policy`, xml, observed.operationPolicies.get(op.id), async (c) => {
            await c.arm.apim.apiOperationPolicy.createOrUpdate(c.config.resourceGroup, serviceName(c), gateway.apiId, op.id, "policy", { value: xml, format: POLICY_FORMAT });
          });
        }),
      ];
    },

    outputs(ctx, observed) {
      return { apiId: observed.api?.id, apiPath: ctx.config.gateway.apiPath };
    },
  };
}

/**
 * The API-scope policy as stored. Read with a plain request: the SDK's `apiPolicy.get`
 * parses the JSON answer with XML names and drops `value` (Azure/azure-sdk-for-js#31566).
 */
async function readApiPolicy(ctx: RunContext): Promise<string | undefined> {
  const { subscriptionId, resourceGroup, gateway } = ctx.config;
  const url =
    `${ctx.cloud.resourceManager}/subscriptions/${subscriptionId}/resourceGroups/${encodeURIComponent(resourceGroup)}` +
    `/providers/Microsoft.ApiManagement/service/${serviceName(ctx)}/apis/${encodeURIComponent(gateway.apiId)}/policies/policy` +
    `?api-version=${ctx.arm.apim.apiVersion}&format=${POLICY_FORMAT}`;
  const request = createPipelineRequest({ url, method: "GET", abortSignal: ctx.signal });
  const response = await ctx.arm.apim.sendRequest(request);
  if (response.status === 404) return undefined;
  const body = response.bodyAsText ? (JSON.parse(response.bodyAsText) as { properties?: { value?: string }; error?: { code?: string; message?: string } }) : {};
  if (response.status !== 200) {
    throw new RestError(body.error?.message ?? `GET API policy answered ${response.status}`, { statusCode: response.status, code: body.error?.code, request, response });
  }
  return body.properties?.value;
}

function apiChange(ctx: RunContext, live: ApiContract | undefined): Change {
  const { gateway } = ctx.config;
  // Callers authenticate with Entra tokens, checked by the policy: no APIM subscription keys.
  const desired = { displayName: gateway.apiDisplayName, path: gateway.apiPath, serviceUrl: gateway.backendUrl, protocols: ["https"], subscriptionRequired: false };
  const fields = diffFields(desired, live as Record<string, unknown> | undefined);
  const resource = `apis/${gateway.apiId}`;
  if (live && fields.length === 0) return { action: "ok", resource, fields: [] };
  return {
    action: live ? "update" : "create",
    resource,
    fields: live ? fields : [{ field: "path", to: gateway.apiPath }, { field: "serviceUrl", to: gateway.backendUrl }],
    apimWrite: true,
    write: async (c) => {
      await c.arm.apim.api.beginCreateOrUpdateAndWait(c.config.resourceGroup, serviceName(c), gateway.apiId, desired, { updateIntervalInMs: c.pollIntervalMs });
    },
  };
}

function operationChange(ctx: RunContext, op: DesiredOperation, live: OperationContract | undefined): Change {
  const { gateway } = ctx.config;
  const desired = { displayName: op.displayName, method: op.method, urlTemplate: op.urlTemplate };
  const fields = diffFields(desired, live as Record<string, unknown> | undefined);
  const resource = `apis/${gateway.apiId}/operations/${op.id}`;
  if (live && fields.length === 0) return { action: "ok", resource, fields: [] };
  return {
    action: live ? "update" : "create",
    resource,
    fields: live ? fields : [{ field: "urlTemplate", to: `${op.method} ${op.urlTemplate}` }],
    apimWrite: true,
    write: async (c) => {
      await c.arm.apim.apiOperation.createOrUpdate(c.config.resourceGroup, serviceName(c), gateway.apiId, op.id, {
        ...desired,
        description: `Calls agent ${op.agentId}; the operation policy binds it, so no caller can choose another agent.`,
      });
    },
  };
}
