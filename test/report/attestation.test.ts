import { describe, expect, it } from "vitest";
import { testResultStatement } from "../../src/report/attestation.js";
import { evidence, scenario } from "./fixture.js";

describe("testResultStatement", () => {
  it("is an in-toto Statement v1 with the test-result predicate, one subject per policy document", () => {
    const s = testResultStatement(evidence());
    expect(s._type).toBe("https://in-toto.io/Statement/v1");
    expect(s.predicateType).toBe("https://in-toto.io/attestation/test-result/v0.1");
    expect(s.subject).toEqual([
      { name: evidence().policies[0]!.resourceId, digest: { sha256: "1".repeat(64) } },
      { name: evidence().policies[1]!.resourceId, digest: { sha256: "2".repeat(64) } },
    ]);
    expect(s.predicate).toEqual({
      result: "PASSED",
      configuration: [
        { name: "aeg", uri: "pkg:npm/aeg@0.1.0", annotations: { version: "0.1.0" } },
        { name: "configuration", digest: { sha256: "c".repeat(64) }, annotations: { environment: "prod", cloud: "AzureCloud" } },
        { name: "apim-service", uri: evidence().service.resourceUrl, annotations: { resourceId: evidence().service.id, gatewayUrl: "https://apim.azure-api.net", policyVersion: "2026.06.09" } },
      ],
      passedTests: ["contoso-kb-assistant | ben: Authorized caller, pathway mcp-cs → 200 | persona ben <ben@contoso.example> | expects 200 None"],
      warnedTests: [],
      failedTests: [],
    });
    expect("url" in s.predicate).toBe(false);
  });

  it.each([
    ["a failed scenario", { scenarios: [scenario(), scenario({ passed: false, name: "emma" })] }, "FAILED"],
    ["validation skipped", { scenarios: [], skipped: "sandbox gateway unavailable" }, "WARNED"],
    ["no scenario at all", { scenarios: [] }, "WARNED"],
  ])("%s → %s", (_name, over, result) => {
    expect(testResultStatement(evidence(over)).predicate.result).toBe(result);
  });

  it("carries the pipeline URL and the applied plan when there is one", () => {
    const s = testResultStatement(
      evidence({ url: "https://dev.azure.com/org/p/_build/results?buildId=7", appliedPlan: { state: "recorded", plan: { planDigest: "d".repeat(64), changeId: "CHG-9", applier: { name: "ada" } } } }),
    );
    expect(s.predicate.url).toBe("https://dev.azure.com/org/p/_build/results?buildId=7");
    expect(s.predicate.configuration.at(-1)).toEqual({ name: "applied-plan", digest: { sha256: "d".repeat(64) }, annotations: { changeId: "CHG-9", applier: { name: "ada" } } });
  });
});
