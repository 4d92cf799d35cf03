// A small Evidence for the pure renderers' tests: one passing and one failing scenario, two documents.
import type { Evidence } from "../../src/report/evidence.js";
import type { ScenarioResult } from "../../src/validate/run.js";

export function scenario(over: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    name: "ben: Authorized caller, pathway mcp-cs → 200",
    agentId: "contoso-kb-assistant",
    caller: { kind: "persona", label: "persona ben", upn: "ben@contoso.example" },
    correlationId: "aeg-validate-1234-1",
    expected: { status: 200, denyReason: "None", anomaly: false },
    actual: { status: 200, denyReason: "None", anomaly: false, echoedCorrelationId: "aeg-validate-1234-1", records: 1 },
    passed: true,
    problems: [],
    ms: 12,
    ...over,
  };
}

export function evidence(over: Partial<Evidence> = {}): Evidence {
  const service = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";
  return {
    aegVersion: "0.1.0",
    environment: "prod",
    cloud: "AzureCloud",
    startedAt: "2026-06-09T10:00:00.000Z",
    finishedAt: "2026-06-09T10:01:00.000Z",
    operator: { kind: "application", name: "pipeline", objectId: "o-1" },
    configurationDigest: "c".repeat(64),
    service: { id: service, name: "apim", gatewayUrl: "https://apim.azure-api.net", resourceUrl: `https://management.azure.com${service}` },
    policyVersion: "2026.06.09",
    scenarios: [scenario()],
    decisionLogChecked: false,
    policies: [
      { resourceId: `${service}/policyFragments/aeg-validate-jwt`, kind: "fragment", label: "aeg-validate-jwt", sha256: "1".repeat(64), plan: "no-plan" },
      { resourceId: `${service}/apis/aeg/policies/policy`, kind: "api", label: "aeg", sha256: "2".repeat(64), plan: "no-plan" },
    ],
    appliedPlan: { state: "none" },
    access: { principalId: "p-1", azure: [], dataverse: [], graph: [] },
    notChecked: [],
    ...over,
  };
}
