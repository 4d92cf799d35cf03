import { ConfigError } from "../errors.js";
import type { RunContext } from "../engine/types.js";
import { formatProblem, lintPolicy, type LintProblem } from "../policy/lint.js";
import { agentSlug, renderOperationPolicy, type TemplateSet } from "../policy/templates.js";
import { desiredNamedValues } from "./named-values.js";

/**
 * Lints every document setup would upload against what setup itself creates (named values,
 * fragments, the logger). Runs while planning, so a broken template stops the run before any write.
 */
export function assertTemplatesValid(templates: TemplateSet, ctx: RunContext): void {
  const scope = {
    namedValues: new Map(desiredNamedValues(ctx.config, ctx.cloud).map((nv) => [nv.id, nv.value])),
    fragments: new Map(Object.entries(templates.fragments)),
    loggers: new Set([ctx.config.telemetry.loggerId]),
  };
  const problems: LintProblem[] = [
    ...Object.entries(templates.fragments).flatMap(([id, xml]) => lintPolicy(`templates/fragments/${id}.xml`, xml, "fragment", scope)),
    ...lintPolicy("templates/api-policy.xml", templates.apiPolicy, "policy", scope),
    ...ctx.config.agents.flatMap((agent) =>
      lintPolicy(`templates/operation-policy.xml (agent ${agent.id})`, renderOperationPolicy(templates, { slug: agentSlug(agent.id) }), "policy", scope),
    ),
  ];
  if (problems.length > 0) {
    throw new ConfigError(problems.map(formatProblem), "Fix the template (or the configuration it refers to); nothing was written.");
  }
}
