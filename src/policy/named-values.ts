// The named values aeg's policies may reference, and the agent slug that names per-agent values.
//
// Named values are global to an APIM instance and referenced by display name, so one instance can
// hold only one `aeg-agent-id`; each agent therefore gets its own `aeg-agent-id-<slug>` and
// `aeg-audience-group-id-<slug>`, set into context variables by that agent's operation policy.

import { tenantEndpoints, type CloudProfile } from "../azure/cloud.js";
import type { Config } from "../config/schema.js";
import { AGENT_SLUG_PLACEHOLDER, agentNamedValues, agentSlug, isAgentSlug } from "./agent-slug.js";

/**
 * The value of each instance-wide named value, from the configuration and the cloud. This record is
 * the one list of global named values: lint, setup and doctor all derive from it.
 */
const GLOBAL_VALUES = {
  "aeg-tenant-id": (c) => c.tenantId,
  "aeg-audience": (c) => c.gateway.audiences[0]!,
  // Both audience forms are accepted; with one configured, the second slot repeats it.
  "aeg-audience-2": (c) => c.gateway.audiences[1] ?? c.gateway.audiences[0]!,
  "aeg-dataverse-resource": (c) => c.dataverse.url.replace(/\/+$/, ""),
  "aeg-decision-logger": (c) => c.telemetry.loggerId,
  "aeg-policy-version": (c) => c.gateway.policyVersion,
  "aeg-channel": (c) => c.gateway.channel,
  "aeg-unknown-pathway": (c) => c.gateway.unknownPathway,
  "aeg-graph-fallback": (c) => String(c.graphFallback.enabled),
  // Cloud-specific endpoints, so one template serves public, sovereign and sandbox clouds.
  "aeg-openid-config-v1": (c, cloud) => tenantEndpoints(cloud, c.tenantId).openIdConfigV1,
  "aeg-openid-config-v2": (c, cloud) => tenantEndpoints(cloud, c.tenantId).openIdConfigV2,
  "aeg-issuer-v1": (c, cloud) => tenantEndpoints(cloud, c.tenantId).issuerV1,
  "aeg-issuer-v2": (c, cloud) => tenantEndpoints(cloud, c.tenantId).issuerV2,
  "aeg-graph-url": (_c, cloud) => cloud.graph,
  "aeg-graph-resource": (_c, cloud) => cloud.graphAudience,
  "aeg-store-timeout": (c) => String(c.gateway.storeTimeoutSeconds),
} satisfies Record<string, (config: Config, cloud: CloudProfile) => string>;

export type GlobalNamedValue = keyof typeof GLOBAL_VALUES;

export const AEG_NAMED_VALUES = {
  /** One value each per APIM instance. */
  global: Object.keys(GLOBAL_VALUES) as GlobalNamedValue[],
  /** One value each per agent: prefix + agentSlug(agentId). */
  perAgentPrefixes: ["aeg-agent-id-", "aeg-audience-group-id-"],
} as const;

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
  const shared = AEG_NAMED_VALUES.global.map((id) => ({ id, value: GLOBAL_VALUES[id](config, cloud) }));
  const perAgent = config.agents.flatMap((agent) => {
    const names = agentNamedValues(agentSlug(agent.id));
    return [
      { id: names.agentId, value: agent.id },
      { id: names.audienceGroupId, value: agent.audienceGroupId },
    ];
  });
  return [...shared, ...perAgent];
}

/**
 * Whether a policy may reference this named value. The unrendered operation template's
 * `…-__AGENT_SLUG__` form is accepted too.
 */
export function isAllowedNamedValue(name: string): boolean {
  if ((AEG_NAMED_VALUES.global as readonly string[]).includes(name)) return true;
  return AEG_NAMED_VALUES.perAgentPrefixes.some((prefix) => {
    if (!name.startsWith(prefix)) return false;
    const rest = name.slice(prefix.length);
    return rest === AGENT_SLUG_PLACEHOLDER || isAgentSlug(rest);
  });
}
