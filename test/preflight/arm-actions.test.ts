import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { inSync, type StepReport } from "../../src/engine/change.js";
import type { Step } from "../../src/engine/step.js";
import { ARM_WRITES, requiredArmActions, scopeId, type ArmWrite } from "../../src/preflight/arm-actions.js";
import { roleGranting } from "../../src/preflight/built-in-roles.js";
import { SETUP_STEPS } from "../../src/steps/index.js";
import { repoRoot } from "../support/cli.js";
import { planInput, sampleConfig, SUBSCRIPTION_ID, SAMPLE } from "../support/seed.js";

const config = sampleConfig();
const SUB = `/subscriptions/${SUBSCRIPTION_ID}`;
const RG = `${SUB}/resourceGroups/${SAMPLE.resourceGroup}`;
const SERVICE = `${RG}/providers/Microsoft.ApiManagement/service/${SAMPLE.apim}`;
const NS = `${RG}/providers/Microsoft.EventHub/namespaces/${SAMPLE.namespace}`;
const HUB = `${NS}/eventhubs/${SAMPLE.eventHub}`;

/** What each ARM step observes on a tenant where nothing exists yet. */
const NOTHING_THERE: Record<string, unknown> = {
  "resource-group": undefined,
  apim: {},
  "named-values": new Map(),
  telemetry: { assignments: [] },
  fragments: new Map(),
  api: { shards: new Map(), otherOperations: 0 },
  "retired-agents": [],
};

/** A fresh tenant's plan of the ARM steps, made by the steps' own pure desired and plan. */
async function freshPlan(options = {}): Promise<StepReport[]> {
  const input = await planInput({ outputs: { apim: {} }, options });
  return SETUP_STEPS.filter((s: Step) => s.id in NOTHING_THERE).map((step) => {
    const changes = step.plan(step.desired(input), NOTHING_THERE[step.id]);
    return { id: step.id, title: step.title, status: "create", changes };
  });
}

describe("requiredArmActions", () => {
  it("a fresh setup needs every write at the scope it writes into", async () => {
    const needed = requiredArmActions(await freshPlan(), config);
    expect(needed.map((n) => [n.step, n.action, n.scope])).toEqual([
      ["resource-group", "Microsoft.Resources/subscriptions/resourceGroups/write", SUB],
      ["apim", "Microsoft.ApiManagement/service/write", RG],
      ["named-values", "Microsoft.ApiManagement/service/namedValues/write", SERVICE],
      ["telemetry", "Microsoft.EventHub/namespaces/write", RG],
      ["telemetry", "Microsoft.EventHub/namespaces/eventhubs/write", NS],
      ["telemetry", "Microsoft.Authorization/roleAssignments/write", HUB],
      ["telemetry", "Microsoft.ApiManagement/service/loggers/write", SERVICE],
      ["telemetry", "Microsoft.EventHub/namespaces/eventhubs/consumergroups/write", HUB],
      ["fragments", "Microsoft.ApiManagement/service/policyFragments/write", SERVICE],
      ["api", "Microsoft.ApiManagement/service/apis/write", SERVICE],
      ["api", "Microsoft.ApiManagement/service/apis/operations/write", SERVICE],
      ["api", "Microsoft.ApiManagement/service/apis/policies/write", SERVICE],
      ["api", "Microsoft.ApiManagement/service/apis/operations/policies/write", SERVICE],
    ]);
  });

  it("a plan with nothing to write needs nothing, and the Dataverse and Graph steps are not ARM's", async () => {
    const noOp = (await freshPlan()).map((r) => ({ ...r, status: "ok" as const, changes: r.changes.map((c) => inSync(c.resource)) }));
    const identity: StepReport = { id: "graph-grant", title: "Graph", status: "create", changes: [{ action: "create", resource: "appRoleAssignments/x", fields: [], op: { kind: "grant" } }] };
    expect(requiredArmActions([...noOp, identity], config)).toEqual([]);
  });

  it("purging a soft-deleted service needs the purge at the subscription", async () => {
    const plan = await freshPlan({ purgeSoftDeleted: true });
    const apim = plan.find((r) => r.id === "apim")!;
    apim.changes = [{ action: "create", resource: `service/${SAMPLE.apim}`, fields: [], op: { kind: "purge-and-create", body: {} } }];
    expect(requiredArmActions([apim], config).map((n) => [n.action, n.scope])).toEqual([
      ["Microsoft.ApiManagement/locations/deletedservices/delete", SUB],
      ["Microsoft.ApiManagement/service/write", RG],
    ]);
  });

  it("a change the table does not know is a bug, not a silent pass", () => {
    const plan: StepReport[] = [{ id: "telemetry", title: "t", status: "create", changes: [{ action: "create", resource: "x", fields: [], op: { kind: "something-new" } }] }];
    expect(() => requiredArmActions(plan, config)).toThrow(/no entry for step telemetry, change something-new/);
  });

  it("survives a JSON round trip of the plan (a saved plan is checked the same way)", async () => {
    const plan = await freshPlan();
    expect(requiredArmActions(JSON.parse(JSON.stringify(plan)) as StepReport[], config)).toEqual(requiredArmActions(plan, config));
  });
});

/** The README's table, rendered from ARM_WRITES: one row per step and write, with the changes that need it. */
function readmeTable(): string {
  const rows = ["| Step | Change | ARM action | Checked at | Built-in role that grants it |", "| --- | --- | --- | --- | --- |"];
  for (const [step, byChange] of Object.entries(ARM_WRITES) as Array<[string, Record<string, ArmWrite[]>]>) {
    const grouped = new Map<string, { write: ArmWrite; changes: string[] }>();
    for (const [change, writes] of Object.entries(byChange)) {
      for (const write of writes) {
        const key = `${write.action}|${write.at}`;
        const entry = grouped.get(key) ?? { write, changes: [] };
        entry.changes.push(change);
        grouped.set(key, entry);
      }
    }
    for (const { write, changes } of grouped.values()) {
      rows.push(`| ${step} | ${changes.join(", ")} | \`${write.action}\` | ${write.at} | ${roleGranting(write.action).name} |`);
    }
  }
  return rows.join("\n");
}

describe("README", () => {
  it("lists exactly the actions of the table, with the role that grants each", async () => {
    const readme = await readFile(path.join(repoRoot, "README.md"), "utf8");
    expect(readme).toContain(readmeTable());
  });

  it("names scopes by levels that the configuration resolves", () => {
    expect(scopeId("event hub", config)).toBe(HUB);
  });
});
