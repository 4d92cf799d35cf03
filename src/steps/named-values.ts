import type { NamedValueContract } from "@azure/arm-apimanagement";
import { tenantEndpoints, type CloudProfile } from "../azure/cloud.js";
import type { Config } from "../config/schema.js";
import { diffFields } from "../engine/plan.js";
import type { Change, RunContext, Step } from "../engine/types.js";
import { agentSlug } from "../policy/templates.js";
import { APIM_ROLE, apimReady, serviceName } from "./apim-context.js";

export interface DesiredNamedValue {
  id: string;
  value: string;
}

/**
 * Seed step 2, with the contract's corrections: named values are global to an instance, so each
 * agent gets its own `aeg-agent-id-<slug>` and `aeg-audience-group-id-<slug>`, which its operation
 * policy copies into context variables. Display name = id, as policies reference display names.
 */
export function desiredNamedValues(config: Config, cloud: CloudProfile): DesiredNamedValue[] {
  const [first, second] = config.gateway.audiences;
  const tenant = tenantEndpoints(cloud, config.tenantId);
  const shared: DesiredNamedValue[] = [
    { id: "aeg-tenant-id", value: config.tenantId },
    { id: "aeg-audience", value: first! },
    // Both audience forms are accepted; with one configured, the second slot repeats it.
    { id: "aeg-audience-2", value: second ?? first! },
    { id: "aeg-dataverse-resource", value: config.dataverse.url.replace(/\/+$/, "") },
    { id: "aeg-decision-logger", value: config.telemetry.loggerId },
    { id: "aeg-policy-version", value: config.gateway.policyVersion },
    { id: "aeg-channel", value: config.gateway.channel },
    { id: "aeg-unknown-pathway", value: config.gateway.unknownPathway },
    { id: "aeg-graph-fallback", value: String(config.graphFallback.enabled) },
    { id: "aeg-openid-config-v1", value: tenant.openIdConfigV1 },
    { id: "aeg-openid-config-v2", value: tenant.openIdConfigV2 },
    { id: "aeg-issuer-v1", value: tenant.issuerV1 },
    { id: "aeg-issuer-v2", value: tenant.issuerV2 },
    { id: "aeg-graph-url", value: cloud.graph },
    { id: "aeg-graph-resource", value: cloud.graphAudience },
    { id: "aeg-store-timeout", value: String(config.gateway.storeTimeoutSeconds) },
  ];
  const perAgent = config.agents.flatMap((agent) => {
    const slug = agentSlug(agent.id);
    return [
      { id: `aeg-agent-id-${slug}`, value: agent.id },
      { id: `aeg-audience-group-id-${slug}`, value: agent.audienceGroupId },
    ];
  });
  return [...shared, ...perAgent];
}

const TAGS = ["aeg"];

export const namedValuesStep: Step<Map<string, NamedValueContract>> = {
  id: "named-values",
  title: "Named values",
  needs: ["apim"],
  requiredRole: APIM_ROLE,

  async observe(ctx) {
    const found = new Map<string, NamedValueContract>();
    if (!apimReady(ctx)) return found;
    const { resourceGroup } = ctx.config;
    // One paged list instead of a read per value.
    for await (const nv of ctx.arm.apim.namedValue.listByService(resourceGroup, serviceName(ctx))) {
      if (nv.name) found.set(nv.name.toLowerCase(), nv);
    }
    return found;
  },

  plan(ctx, found): Change[] {
    return desiredNamedValues(ctx.config, ctx.cloud).map(({ id, value }) => {
      const live = found.get(id.toLowerCase());
      const desired = { displayName: id, value, secret: false, tags: TAGS };
      const resource = `namedValues/${id}`;
      const observed = live ? { displayName: live.displayName, value: live.value, secret: live.secret ?? false, tags: live.tags ?? [] } : undefined;
      const fields = diffFields(desired, observed);
      if (live && fields.length === 0) return { action: "ok", resource, fields: [] };
      return {
        action: live ? "update" : "create",
        resource,
        fields: live ? fields : [{ field: "value", to: value }],
        apimWrite: true,
        write: (c: RunContext) => putNamedValue(c, id, desired),
      } satisfies Change;
    });
  },

  outputs() {
    return {};
  },
};

async function putNamedValue(ctx: RunContext, id: string, body: { displayName: string; value: string; secret: boolean; tags: string[] }): Promise<void> {
  await ctx.arm.apim.namedValue.beginCreateOrUpdateAndWait(ctx.config.resourceGroup, serviceName(ctx), id, body, {
    updateIntervalInMs: ctx.pollIntervalMs,
  });
}
