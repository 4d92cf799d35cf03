import { describe, expect, it } from "vitest";
import { EVENT_HUBS_DATA_SENDER, roleAssignmentName, telemetryStep } from "../../src/steps/telemetry.js";
import { planInput, PRINCIPAL_ID, READY_APIM, SAMPLE, sampleConfig } from "../support/seed.js";

const ns = { sku: { name: "Standard" }, serviceBusEndpoint: `https://${SAMPLE.namespace}.servicebus.windows.net:443/` };
const hub = { id: "hub", partitionCount: 4, messageRetentionInDays: 1 };
const sender = { roleDefinitionId: `/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/${EVENT_HUBS_DATA_SENDER}` };
const logger = { loggerType: "azureEventHub", description: "AEG per-decision telemetry", credentials: { endpointAddress: `${SAMPLE.namespace}.servicebus.windows.net`, identityClientId: "SystemAssigned", name: SAMPLE.eventHub } };
const sinkGroup = { name: "aeg-sink" };
const inSync = { namespace: ns, hub, sinkConsumerGroup: sinkGroup, assignments: [sender], logger };
const { sinkConsumerGroup: _, ...groupMissing } = inSync;

const actions = (changes: Array<{ action: string }>) => changes.map((c) => c.action);
const telemetry = (t: Record<string, unknown>) => sampleConfig((raw) => (raw.telemetry = { ...raw.telemetry, ...t }));

describe("step telemetry", () => {
  it.each([
    ["a fresh tenant: everything created", {}, { assignments: [] }, ["create", "create", "create", "create", "create"]],
    ["all there", {}, inSync, ["ok", "ok", "ok", "ok", "ok"]],
    ["the role missing", {}, { ...inSync, assignments: [] }, ["ok", "ok", "create", "ok", "ok"]],
    ["retention changed", {}, { ...inSync, hub: { ...hub, messageRetentionInDays: 7 } }, ["ok", "update", "ok", "ok", "ok"]],
    // Event Hubs cannot change a hub's partitions: known at plan time, never attempted.
    ["partitions changed", {}, { ...inSync, hub: { ...hub, partitionCount: 2 } }, ["ok", "blocked", "ok", "ok", "ok"]],
    // The sink's own group, so that aeg validate (no epoch) may read beside it: drift when missing.
    ["the sink's consumer group missing", {}, groupMissing, ["ok", "ok", "ok", "ok", "create"]],
    ["a configured group of another name", { sinkConsumerGroup: "sink-2" }, groupMissing, ["ok", "ok", "ok", "ok", "create"]],
    // Basic has only $Default; nothing to make, and the sink reads $Default.
    ["Basic: nothing to make", { sku: "Basic" }, groupMissing, ["ok", "ok", "ok", "ok", "skipped"]],
    ["$Default configured: nothing to make", { sinkConsumerGroup: "$Default" }, groupMissing, ["ok", "ok", "ok", "ok", "skipped"]],
  ])("%s", async (_name, t, observed, expected) => {
    const config = telemetry(t);
    const live = { ...observed, namespace: observed.namespace && { ...observed.namespace, sku: { name: config.telemetry.sku } } };
    expect(actions(telemetryStep.plan(telemetryStep.desired(await planInput({ config })), live))).toEqual(expected);
  });

  it("creates the configured consumer group under the hub, after the hub and nothing else", async () => {
    const fresh = telemetryStep.plan(telemetryStep.desired(await planInput({ config: telemetry({ sinkConsumerGroup: "sink-2" }) })), { assignments: [] });
    const resource = `namespaces/${SAMPLE.namespace}/eventhubs/${SAMPLE.eventHub}`;
    expect(fresh[4]).toMatchObject({ resource: `${resource}/consumergroups/sink-2`, after: [resource], op: { kind: "consumer-group", namespace: SAMPLE.namespace, hub: SAMPLE.eventHub, name: "sink-2" }, seen: "absent" });
  });

  it("on Basic, the note says the sink reads $Default and validate cannot read beside it", async () => {
    const changes = telemetryStep.plan(telemetryStep.desired(await planInput({ config: telemetry({ sku: "Basic" }) })), groupMissing);
    expect(changes[4]).toMatchObject({ action: "skipped", resource: expect.stringMatching(/consumergroups\/\$Default$/), note: expect.stringMatching(/Basic tier has only \$Default.*aeg validate cannot read/) });
    expect(changes[4]!.op).toBeUndefined();
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
