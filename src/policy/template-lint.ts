import type { CloudProfile } from "../azure/cloud.js";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { formatProblem, lintPolicy, type LintProblem } from "./lint.js";
import { desiredNamedValues } from "./named-values.js";
import { agentSlug } from "./agent-slug.js";
import { renderOperationPolicy, type TemplateSet } from "./templates.js";

/**
 * Lints every document setup would upload against what setup itself creates (named values,
 * fragments, the logger). Runs before planning, so a broken template stops the run before any write.
 */
export function assertTemplatesValid(templates: TemplateSet, config: Config, cloud: CloudProfile): void {
  const scope = {
    namedValues: new Map(desiredNamedValues(config, cloud).map((nv) => [nv.id, nv.value])),
    fragments: new Map(Object.entries(templates.fragments)),
    loggers: new Set([config.telemetry.loggerId]),
  };
  const problems: LintProblem[] = [
    ...Object.entries(templates.fragments).flatMap(([id, xml]) => lintPolicy(`templates/fragments/${id}.xml`, xml, "fragment", scope)),
    ...lintPolicy("templates/api-policy.xml", templates.apiPolicy, "policy", scope),
    ...config.agents.flatMap((agent) =>
      lintPolicy(`templates/operation-policy.xml (agent ${agent.id})`, renderOperationPolicy(templates, { slug: agentSlug(agent.id) }), "policy", scope),
    ),
  ];
  if (problems.length > 0) {
    throw new ConfigError(problems.map(formatProblem), "Fix the template (or the configuration it refers to); nothing was written.");
  }
}
