import { resultOf, testName, type Evidence } from "./evidence.js";

/**
 * attestation.json: an in-toto Statement v1 carrying the test-result predicate v0.1. The subjects
 * are the policy documents the gateway runs, by ARM resource id and the SHA-256 of their stored
 * value, so a verifier can tie the result to exactly what ran. Pure.
 */
export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1";

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface TestResultStatement {
  _type: typeof STATEMENT_TYPE;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: typeof TEST_RESULT_PREDICATE;
  predicate: {
    result: "PASSED" | "WARNED" | "FAILED";
    configuration: ResourceDescriptor[];
    /** Unset when no pipeline URL was given (unset and empty mean the same to a consumer). */
    url?: string;
    passedTests: string[];
    warnedTests: string[];
    failedTests: string[];
  };
}

export function testResultStatement(e: Evidence): TestResultStatement {
  const configuration: ResourceDescriptor[] = [
    { name: "aeg", uri: `pkg:npm/aeg@${e.aegVersion}`, annotations: { version: e.aegVersion } },
    { name: "configuration", digest: { sha256: e.configurationDigest }, annotations: { environment: e.environment, cloud: e.cloud } },
    {
      name: "apim-service",
      uri: e.service.resourceUrl,
      annotations: { resourceId: e.service.id, gatewayUrl: e.service.gatewayUrl, ...(e.policyVersion !== undefined ? { policyVersion: e.policyVersion } : {}) },
    },
  ];
  if (e.appliedPlan.state === "recorded") {
    const p = e.appliedPlan.plan;
    configuration.push({
      name: "applied-plan",
      digest: { sha256: p.planDigest },
      annotations: {
        ...(p.changeId !== undefined ? { changeId: p.changeId } : {}),
        ...(p.planner ? { planner: p.planner } : {}),
        ...(p.applier ? { applier: p.applier } : {}),
        ...(p.appliedAt !== undefined ? { appliedAt: p.appliedAt } : {}),
      },
    });
  }
  return {
    _type: STATEMENT_TYPE,
    subject: e.policies.map((p) => ({ name: p.resourceId, digest: { sha256: p.sha256 } })),
    predicateType: TEST_RESULT_PREDICATE,
    predicate: {
      result: resultOf(e),
      configuration,
      ...(e.url ? { url: e.url } : {}),
      passedTests: e.scenarios.filter((s) => s.passed).map(testName),
      warnedTests: [],
      failedTests: e.scenarios.filter((s) => !s.passed).map(testName),
    },
  };
}
