// The named values aeg's policies may reference, and the agent slug that names per-agent values.
//
// Named values are global to an APIM instance and referenced by display name, so one instance can
// hold only one `aeg-agent-id`; each agent therefore gets its own `aeg-agent-id-<slug>` and
// `aeg-audience-group-id-<slug>`, set into context variables by that agent's operation policy.

export const AEG_NAMED_VALUES = {
  /** One value each per APIM instance. */
  global: [
    "aeg-tenant-id",
    "aeg-audience",
    "aeg-audience-2",
    "aeg-dataverse-resource",
    "aeg-decision-logger",
    "aeg-policy-version",
    "aeg-channel",
    "aeg-unknown-pathway",
    "aeg-graph-fallback",
    // Cloud-specific endpoints, so one template serves public, sovereign and sandbox clouds.
    "aeg-openid-config-v1",
    "aeg-openid-config-v2",
    "aeg-issuer-v1",
    "aeg-issuer-v2",
    "aeg-graph-url",
    "aeg-graph-resource",
    "aeg-store-timeout",
  ],
  /** One value each per agent: prefix + agentSlug(agentId). */
  perAgentPrefixes: ["aeg-agent-id-", "aeg-audience-group-id-"],
} as const;

export type GlobalNamedValue = (typeof AEG_NAMED_VALUES.global)[number];

/** Placeholder for the agent slug in `templates/operation-policy.xml`. */
export const AGENT_SLUG_PLACEHOLDER = "__AGENT_SLUG__";

const AGENT_SLUG_MAX_LENGTH = 40;

/**
 * The slug that names an agent's per-agent named values.
 * Rule: Unicode-decompose and drop accents, lowercase, every character outside `[a-z0-9-]`
 * becomes `-`, runs of `-` collapse to one, leading/trailing `-` are trimmed, then the result is
 * cut to 40 characters (and trimmed again). An id with no usable character is an error.
 * Distinct ids can share a slug (case, punctuation, truncation): callers must check uniqueness.
 */
export function agentSlug(agentId: string): string {
  const slug = agentId
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, AGENT_SLUG_MAX_LENGTH)
    .replace(/-$/, "");
  if (slug === "") throw new Error(`Agent id ${JSON.stringify(agentId)} has no character usable in a slug`);
  return slug;
}

export function isAgentSlug(slug: string): boolean {
  return slug.length > 0 && slug.length <= AGENT_SLUG_MAX_LENGTH && /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(slug);
}

/** The two per-agent named value names for a slug. */
export function agentNamedValues(slug: string): { agentId: string; audienceGroupId: string } {
  if (!isAgentSlug(slug)) throw new Error(`Not an agent slug: ${JSON.stringify(slug)}`);
  return { agentId: `aeg-agent-id-${slug}`, audienceGroupId: `aeg-audience-group-id-${slug}` };
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
