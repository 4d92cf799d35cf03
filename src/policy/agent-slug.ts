// How an agent id becomes the slug that names its operation, URL and per-agent named values.

/** Placeholder for the agent slug in `templates/operation-policy.xml`. */
export const AGENT_SLUG_PLACEHOLDER = "__AGENT_SLUG__";

export const AGENT_SLUG_MAX_LENGTH = 40;

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
