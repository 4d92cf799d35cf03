import type { ScenarioResult } from "../validate/run.js";
import type { AzureRoleEvidence, DataverseRoleEvidence, GraphRoleEvidence } from "./access.js";
import type { AppliedPlan, PlanMatch } from "./applied-plan.js";

/**
 * Everything one validation run proves, gathered once (collect.ts) and rendered twice: for
 * systems (attestation.ts) and for people (html.ts). It holds no secret and no token.
 */
export interface Evidence {
  aegVersion: string;
  environment: string;
  /** The cloud's name ("sandbox" for the embedded tenant). */
  cloud: string;
  startedAt: string;
  finishedAt: string;
  /** The signed-in identity that ran the validation (from its token's claims, never the token). */
  operator: { objectId?: string; name?: string; kind: "user" | "application" };
  /** SHA-256 of the resolved configuration, keys sorted. */
  configurationDigest: string;
  service: { id: string; name: string; gatewayUrl: string; resourceUrl: string };
  /** The `aeg-policy-version` named value as the gateway holds it. */
  policyVersion?: string;
  /** The pipeline run's URL, from --report-url. */
  url?: string;
  /** Set when validation did not run (setup's closing validation, skipped). */
  skipped?: string;
  scenarios: ScenarioResult[];
  decisionLogChecked: boolean;
  policies: PolicyEvidence[];
  appliedPlan: { state: "recorded"; plan: AppliedPlan } | { state: "none" } | { state: "unreadable"; why: string };
  access: AccessEvidence;
  notChecked: Array<{ what: string; why: string }>;
}

export interface PolicyEvidence {
  /** The ARM resource id, as ARM names the document. */
  resourceId: string;
  kind: "fragment" | "api" | "operation";
  /** A short name for people: the fragment id, the API id, the operation id. */
  label: string;
  sha256: string;
  plan: PlanMatch;
}

export interface AccessEvidence {
  principalId?: string;
  /** Undefined where the report could not read it (see notChecked). */
  azure?: AzureRoleEvidence[];
  dataverse?: DataverseRoleEvidence[];
  graph?: GraphRoleEvidence[];
}

export type TestResult = "PASSED" | "WARNED" | "FAILED";

/** FAILED on any failed scenario; WARNED when nothing ran, so "PASSED" always means tested. Pure. */
export function resultOf(evidence: Pick<Evidence, "scenarios" | "skipped">): TestResult {
  if (evidence.scenarios.some((s) => !s.passed)) return "FAILED";
  return evidence.skipped || evidence.scenarios.length === 0 ? "WARNED" : "PASSED";
}

/** One scenario's name in the statement: agent, caller and expectation. Pure. */
export function testName(s: ScenarioResult): string {
  const caller = s.caller.upn ? `${s.caller.label} <${s.caller.upn}>` : s.caller.label;
  return `${s.agentId} | ${s.name} | ${caller} | expects ${s.expected.status} ${s.expected.denyReason}${s.expected.anomaly ? " with anomaly" : ""}`;
}
