import { describe, expect, it } from "vitest";
import { EVENT_HUBS_DATA_SENDER, roleAssignmentName, telemetryStep } from "../../src/steps/telemetry.js";
import { planInput, PRINCIPAL_ID, READY_APIM, SAMPLE, sampleConfig } from "../support/seed.js";

const ns = { sku: { name: "Standard" }, serviceBusEndpoint: `https://${SAMPLE.namespace}.servicebus.windows.net:443/` };
const hub = { id: "hub", partitionCount: 4, messageRetentionInDays: 1 };
const sender = { roleDefinitionId: `/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/${EVENT_HUBS_DATA_SENDER}` };
const logger = { loggerType: "azureEventHub", description: "AEG per-decision telemetry", credentials: { endpointAddress: `${SAMPLE.namespace}.servicebus.windows.net`, identityClientId: "SystemAssigned", name: SAMPLE.eventHub } };
const inSync = { namespace: ns, hub, assignments: [sender], logger };

const actions = (changes: Array<{ action: string }>) => changes.map((c) => c.action);

describe("step telemetry", () => {
  it.each([
    ["a fresh tenant: everything created", { assignments: [] }, ["create", "create", "create", "create"]],
    ["all there", inSync, ["ok", "ok", "ok", "ok"]],
    ["the role missing", { ...inSync, assignments: [] }, ["ok", "ok", "create", "ok"]],
    ["retention changed", { ...inSync, hub: { ...hub, messageRetentionInDays: 7 } }, ["ok", "update", "ok", "ok"]],
    // Event Hubs cannot change a hub's partitions: known at plan time, never attempted.
    ["partitions changed", { ...inSync, hub: { ...hub, partitionCount: 2 } }, ["ok", "blocked", "ok", "ok"]],
  ])("%s", async (_name, observed, expected) => {
    expect(actions(telemetryStep.plan(telemetryStep.desired(await planInput()), observed))).toEqual(expected);
  });

  it("a changed partition count is blocked with exit 2, naming the field and what to do", async () => {
    const changes = telemetryStep.plan(telemetryStep.desired(await planInput()), { ...inSync, hub: { ...hub, partitionCount: 2 } });
    expect(changes[1]).toMatchObject({ action: "blocked", exitCode: 2, note: expect.stringMatching(/^telemetry\.partitionCount: the hub has 2 partitions/), hint: expect.stringMatching(/telemetry\.eventHub/) });
  });

  it("plans the role for an identity apim creates in this run, and blocks it when apim will not", async () => {
    const pending = telemetryStep.plan(telemetryStep.desired(await planInput({ outputs: { apim: {} } })), { assignments: [] });
    expect(pending[2]).toMatchObject({ action: "create", fields: [{ field: "principalId", to: "(the APIM identity, once it exists)" }, { field: "scope" }], op: { kind: "role-assignment" } });
    // The principal is read at apply time, so a plan made before the identity exists stays valid.
    expect(JSON.stringify(pending[2]!.op)).not.toContain("principal");
    const blocked = telemetryStep.plan(telemetryStep.desired(await planInput({ outputs: { apim: { identity: "blocked" } } })), { assignments: [] });
    expect(blocked[2]).toMatchObject({ action: "blocked", resource: "roleAssignments/Azure Event Hubs Data Sender" });
  });

  it("a connection-string logger names where the secret is, never the secret", async () => {
    process.env.AEG_TEST_EH = "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=never-in-a-plan";
    const config = sampleConfig((raw) => (raw.telemetry = { ...raw.telemetry, connectionString: { fromEnv: "AEG_TEST_EH" } }));
    const desired = telemetryStep.desired(await planInput({ config, outputs: { apim: READY_APIM } }));
    const fresh = telemetryStep.plan(desired, { assignments: [] });
    expect(fresh[3]!.op).toMatchObject({ kind: "logger", credentials: { name: SAMPLE.eventHub, connectionString: { fromEnv: "AEG_TEST_EH" } } });
    expect(JSON.stringify(fresh)).not.toContain("never-in-a-plan");
    const existing = telemetryStep.plan(desired, { ...inSync, logger: { loggerType: "azureEventHub", description: "AEG per-decision telemetry" } });
    expect(existing[3]).toMatchObject({ action: "unverifiable" });
  });

  it("names a role assignment the same way every time, as a version-5 GUID", () => {
    const a = roleAssignmentName("/subscriptions/s/rg/x", "/roleDefinitions/r", PRINCIPAL_ID);
    expect(a).toBe(roleAssignmentName("/SUBSCRIPTIONS/s/rg/x", "/roleDefinitions/r", PRINCIPAL_ID));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(roleAssignmentName("/subscriptions/s/rg/x", "/roleDefinitions/r", "q"));
  });
});
