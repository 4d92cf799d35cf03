// The policy XML aeg uploads: loading it from the package's templates/ directory, rendering the
// per-agent operation policy, and listing what a policy refers to (named values, fragments) so the
// CLI can order its writes and check references before APIM rejects a save.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { AGENT_SLUG_PLACEHOLDER, isAgentSlug } from "./agent-slug.js";
import { parsePolicyXml, type XmlElement } from "./xml.js";

/** Fragment ids in upload order (neither includes the other, so any order works). */
export const FRAGMENT_IDS = ["aeg-validate-jwt", "aeg-eligibility-check"] as const;
export type FragmentId = (typeof FRAGMENT_IDS)[number];

export interface TemplateSet {
  /** Directory the templates were read from. */
  dir: string;
  fragments: Record<FragmentId, string>;
  apiPolicy: string;
  /** Contains AGENT_SLUG_PLACEHOLDER; render with renderOperationPolicy. */
  operationPolicy: string;
}

/**
 * The package root: the nearest directory above this module holding package.json. Works both from
 * src/policy/ (vitest) and from dist/src/policy/ (built CLI).
 */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${from}`);
    dir = parent;
  }
}

/** The files a templates directory must hold, relative to it. */
export const TEMPLATE_FILES = ["fragments/aeg-validate-jwt.xml", "fragments/aeg-eligibility-check.xml", "api-policy.xml", "operation-policy.xml"] as const;

export async function loadTemplates(dir: string = path.join(packageRoot(), "templates")): Promise<TemplateSet> {
  const read = async (rel: string): Promise<string> => {
    try {
      return await readFile(path.join(dir, rel), "utf8");
    } catch {
      throw new ConfigError([`templatesDir: cannot read ${path.join(dir, rel)}`], `A templates directory needs ${TEMPLATE_FILES.join(", ")}.`);
    }
  };
  const [validateJwt, eligibility, apiPolicy, operationPolicy] = await Promise.all([read(TEMPLATE_FILES[0]), read(TEMPLATE_FILES[1]), read(TEMPLATE_FILES[2]), read(TEMPLATE_FILES[3])]);
  return {
    dir,
    fragments: { "aeg-validate-jwt": validateJwt, "aeg-eligibility-check": eligibility },
    apiPolicy,
    operationPolicy,
  };
}

/** The operation policy for one agent; `slug` must already be an agentSlug() result. */
export function renderOperationPolicy(set: TemplateSet, agent: { slug: string }): string {
  if (!isAgentSlug(agent.slug)) throw new Error(`Not an agent slug: ${JSON.stringify(agent.slug)}`);
  return set.operationPolicy.split(AGENT_SLUG_PLACEHOLDER).join(agent.slug);
}

/**
 * Names of the `{{…}}` named-value references, unique and sorted. Anything between `{{` and `}}`
 * counts, so a stray `{{` in C# shows up as a bad name instead of going unnoticed (APIM would
 * treat it as a reference too).
 */
export function referencedNamedValues(xml: string): string[] {
  const names = new Set<string>();
  for (const m of xml.matchAll(/\{\{(.*?)\}\}/g)) names.add(m[1]!);
  return [...names].sort();
}

/** fragment-id values of every <include-fragment>, in document order, without repeats. */
export function includedFragments(xml: string): string[] {
  const ids: string[] = [];
  const walk = (el: XmlElement): void => {
    if (el.name === "include-fragment") {
      const id = el.attributes.find((a) => a.name === "fragment-id")?.value;
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
    for (const child of el.children) if (child.kind === "element") walk(child);
  };
  for (const root of parsePolicyXml(xml)) walk(root);
  return ids;
}
