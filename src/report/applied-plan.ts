import { readFile } from "node:fs/promises";
import { z } from "zod";

/**
 * The journal's record of the last `aeg apply` (change control, issue 9), as the report reads it:
 * the top-level `lastApply` field of `.aeg/state/<environment>.json`. Apply writes it; this module
 * only reads, and every field but the plan digest may be missing from older records.
 *
 * `policyDigests` maps each policy document's ARM resource id to the SHA-256 (hex) of its `value`
 * as ARM returned it with `format=xml` in apply's verifying read: the same bytes the report hashes,
 * so "matches the applied plan" compares like with like.
 */
const identity = z.object({ objectId: z.string().optional(), name: z.string().optional() });

const lastApply = z.object({
  planDigest: z.string().min(1),
  changeId: z.string().optional(),
  planner: identity.optional(),
  applier: identity.optional(),
  plannedAt: z.string().optional(),
  appliedAt: z.string().optional(),
  policyDigests: z.record(z.string(), z.string()).optional(),
});

export type AppliedPlan = z.infer<typeof lastApply>;
export type ChangeIdentity = z.infer<typeof identity>;

export type AppliedPlanRecord = { state: "recorded"; plan: AppliedPlan } | { state: "none" } | { state: "unreadable"; why: string };

/** Pure: the record inside a parsed journal document. */
export function appliedPlanOf(journal: unknown): AppliedPlanRecord {
  if (typeof journal !== "object" || journal === null || !("lastApply" in journal) || journal.lastApply == null) return { state: "none" };
  const parsed = lastApply.safeParse(journal.lastApply);
  if (!parsed.success) return { state: "unreadable", why: parsed.error.issues.map((i) => `${["lastApply", ...i.path].join(".")}: ${i.message}`).join("; ") };
  return { state: "recorded", plan: { ...parsed.data, planDigest: bareDigest(parsed.data.planDigest) } };
}

/** The record in a journal file; no file means nothing was applied from this machine's state. */
export async function readAppliedPlan(journalFile: string): Promise<AppliedPlanRecord> {
  let text: string;
  try {
    text = await readFile(journalFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { state: "none" };
    throw err;
  }
  try {
    return appliedPlanOf(JSON.parse(text));
  } catch {
    return { state: "unreadable", why: `${journalFile} is not JSON` };
  }
}

/** How a policy document read now compares with what the applied plan left there. Pure. */
export type PlanMatch = "matches" | "differs" | "not-in-plan" | "no-digests" | "no-plan";

export function planMatch(record: AppliedPlanRecord, resourceId: string, sha256: string): PlanMatch {
  if (record.state !== "recorded") return "no-plan";
  if (!record.plan.policyDigests) return "no-digests";
  const wanted = Object.entries(record.plan.policyDigests).find(([id]) => id.toLowerCase() === resourceId.toLowerCase())?.[1];
  if (wanted === undefined) return "not-in-plan";
  return bareDigest(wanted).toLowerCase() === sha256.toLowerCase() ? "matches" : "differs";
}

function bareDigest(d: string): string {
  return d.replace(/^sha256:/i, "");
}
