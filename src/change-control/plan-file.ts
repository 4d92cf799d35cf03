import { createHash } from "node:crypto";
import type { Config } from "../config/schema.js";
import { stableJson, type StepReport } from "../engine/change.js";
import type { RunOptions } from "../engine/step.js";
import type { SignedIn } from "../azure/signed-in.js";
import type { TemplateSet } from "../policy/templates.js";

/**
 * A saved plan: everything `aeg apply` needs to make exactly these changes later, and to tell
 * whether they still fit what is live. Versioned; holds no secret value (the configuration names
 * secret files and variables, never their content) and is sealed by a digest of its own content.
 */
export interface PlanFile {
  schemaVersion: 1;
  kind: "aeg-plan";
  aegVersion: string;
  environment: string;
  createdAt: string;
  changeId?: string;
  planner: SignedIn;
  status: "changes-planned" | "in-sync" | "blocked";
  configuration: { digest: string; dir: string; value: Config };
  templates: { digest: string; value: TemplateSet };
  options: RunOptions;
  steps: StepReport[];
  /** SHA-256 of every field above, as stable JSON: an edited file no longer matches it. */
  digest: string;
}

type PlanContent = Omit<PlanFile, "digest" | "configuration" | "templates" | "schemaVersion" | "kind"> & {
  configuration: { dir: string; value: Config };
  templates: TemplateSet;
};

export function sha256(value: unknown): string {
  return `sha256:${createHash("sha256").update(typeof value === "string" ? value : stableJson(value)).digest("hex")}`;
}

/** Seals a plan: digests of its inputs, then of the whole. Pure. */
export function sealPlan(content: PlanContent): PlanFile {
  const unsealed: Omit<PlanFile, "digest"> = {
    schemaVersion: 1,
    kind: "aeg-plan",
    aegVersion: content.aegVersion,
    environment: content.environment,
    createdAt: content.createdAt,
    ...(content.changeId ? { changeId: content.changeId } : {}),
    planner: content.planner,
    status: content.status,
    configuration: { digest: sha256(content.configuration.value), ...content.configuration },
    templates: { digest: sha256(content.templates), value: content.templates },
    options: content.options,
    steps: content.steps,
  };
  return { ...unsealed, digest: sha256(unsealed) };
}

/** Why a file cannot be applied as it is, or undefined: not a plan, altered, or made by another aeg. */
export function planFileProblem(raw: unknown, aegVersion: string): { problem: string; exitCode: 2 | 4 } | undefined {
  const file = raw as Partial<PlanFile> | null;
  if (!file || typeof file !== "object" || file.kind !== "aeg-plan" || !Array.isArray(file.steps) || typeof file.digest !== "string") {
    return { problem: "not an aeg plan file (make one with `aeg plan --out FILE`)", exitCode: 2 };
  }
  if (file.schemaVersion !== 1) return { problem: `plan file schemaVersion ${String(file.schemaVersion)} is not one this aeg reads`, exitCode: 2 };
  const { digest, ...unsealed } = file;
  if (sha256(unsealed) !== digest) return { problem: "the plan file was changed after it was made (its digest no longer matches its content)", exitCode: 4 };
  if (file.configuration?.digest !== sha256(file.configuration?.value) || file.templates?.digest !== sha256(file.templates?.value)) {
    return { problem: "the plan file's configuration or templates do not match their digests", exitCode: 4 };
  }
  if (file.aegVersion !== aegVersion) return { problem: `the plan was made by aeg ${String(file.aegVersion)} and this is aeg ${aegVersion}`, exitCode: 4 };
  return undefined;
}

/**
 * What changed live since the plan was made, one line per resource: a resource seen differently,
 * one the plan knew that is gone from a fresh plan, or one a fresh plan has that the plan did not.
 * An empty answer means the plan still describes exactly what a fresh read sees. Pure.
 */
export function staleResources(saved: StepReport[], fresh: StepReport[]): string[] {
  const lines: string[] = [];
  const freshSteps = new Map(fresh.map((r) => [r.id, r]));
  for (const step of saved) {
    const now = new Map((freshSteps.get(step.id)?.changes ?? []).map((c) => [c.resource, c]));
    for (const change of step.changes) {
      const current = now.get(change.resource);
      if (!current) lines.push(`${change.resource}: gone from a fresh plan of step ${step.id}`);
      else if (current.seen !== change.seen) lines.push(`${change.resource}: changed since the plan was made (now ${current.action}, planned ${change.action})`);
      now.delete(change.resource);
    }
    for (const extra of now.values()) lines.push(`${extra.resource}: appeared since the plan was made (now ${extra.action})`);
  }
  return lines;
}
