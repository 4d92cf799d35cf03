import { describe, expect, it } from "vitest";
import type { StepReport } from "../../../src/engine/change.js";
import { requiredArmActions } from "../../../src/preflight/arm-actions.js";
import { TEARDOWN_STEPS } from "../../../src/steps/teardown/index.js";
import { planInput, PRINCIPAL_ID, SAMPLE, sampleConfig, SUBSCRIPTION_ID } from "../../support/seed.js";
import { OURS } from "./gateways.js";

const RG = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${SAMPLE.resourceGroup}`;
const SERVICE = `${RG}/providers/Microsoft.ApiManagement/service/${SAMPLE.apim}`;
const NS = `${RG}/providers/Microsoft.EventHub/namespaces/${SAMPLE.namespace}`;

/** What each step observes of a whole gateway of aeg's. */
const EVERYTHING: Record<string, unknown> = {
  "remove-graph-grant": { gateway: OURS, assignments: [] },
  "remove-dataverse-access": { gateway: OURS, userRoles: [], otherHolders: [] },
  "remove-data-sender": { gateway: OURS, assignments: [{ name: "n", scope: `${NS}/eventhubs/${SAMPLE.eventHub}`, principalId: PRINCIPAL_ID }] },
  "remove-api": { gateway: OURS, apis: [{ apiId: "aeg-gateway", api: { path: "agents" }, operations: ["kb"] }] },
  "remove-fragments": { gateway: OURS, found: [{ id: "aeg-validate-jwt", usedBy: [] }] },
  "remove-named-values": { gateway: OURS, tagged: [{ name: "aeg-tenant-id", tags: ["aeg"] }] },
  "remove-logger": { gateway: OURS, logger: { loggerType: "azureEventHub" } },
  "remove-apim": OURS,
  "remove-telemetry": { namespace: { tags: { "managed-by": "aeg" } }, hub: { name: SAMPLE.eventHub }, otherHubs: [] },
};

async function teardownPlan(purge: boolean): Promise<StepReport[]> {
  const input = await planInput({ options: { purgeSoftDeleted: purge } });
  return TEARDOWN_STEPS.map((step) => ({ id: step.id, title: step.title, status: "delete", changes: step.plan(step.desired(input), EVERYTHING[step.id]) }));
}

describe("teardown's permissions, checked before its first delete", () => {
  it("each removal needs its delete at the scope it deletes from; the purge only with --purge", async () => {
    const needed = (purge: boolean) => teardownPlan(purge).then((plan) => requiredArmActions(plan, sampleConfig()).map((n) => [n.step, n.action, n.scope]));
    const soft = await needed(false);
    expect(soft).toEqual([
      ["remove-data-sender", "Microsoft.Authorization/roleAssignments/delete", `${NS}/eventhubs/${SAMPLE.eventHub}`],
      ["remove-api", "Microsoft.ApiManagement/service/apis/delete", SERVICE],
      ["remove-fragments", "Microsoft.ApiManagement/service/policyFragments/delete", SERVICE],
      ["remove-named-values", "Microsoft.ApiManagement/service/namedValues/delete", SERVICE],
      ["remove-logger", "Microsoft.ApiManagement/service/loggers/delete", SERVICE],
      ["remove-apim", "Microsoft.ApiManagement/service/delete", SERVICE],
      ["remove-telemetry", "Microsoft.EventHub/namespaces/eventhubs/delete", NS],
      ["remove-telemetry", "Microsoft.EventHub/namespaces/delete", NS],
    ]);
    const purged = await needed(true);
    expect(purged.filter((n) => !soft.some((s) => s.join() === n.join()))).toEqual([["remove-apim", "Microsoft.ApiManagement/locations/deletedservices/delete", `/subscriptions/${SUBSCRIPTION_ID}`]]);
  });
});
