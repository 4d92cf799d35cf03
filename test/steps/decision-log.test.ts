import { describe, expect, it } from "vitest";
import type { TableMetadata } from "../../src/azure/dataverse.js";
import { DECISION_LOG_COLUMNS } from "../../src/dataverse/decision-log-table.js";
import { decisionLogChanges, decisionLogStep } from "../../src/steps/decision-log.js";
import { planInput, sampleConfig, writes } from "../support/seed.js";

const live = (): TableMetadata => ({
  LogicalName: "fsi_aegdecisionlog",
  SchemaName: "fsi_aegdecisionlog",
  EntitySetName: "fsi_aegdecisionlogs",
  OwnershipType: "OrganizationOwned",
  Attributes: DECISION_LOG_COLUMNS.map((c) => ({ LogicalName: c.logicalName, AttributeType: c.type, ...(c.maxLength ? { MaxLength: c.maxLength } : {}), ...(c.optionSet ? { OptionSet: { Options: Object.values(c.optionSet.options).map((Value) => ({ Value })) } } : {}) })),
  Keys: [{ SchemaName: "fsi_correlationid_key", LogicalName: "fsi_correlationid_key", KeyAttributes: ["fsi_correlationid"], EntityKeyIndexStatus: "Active" }],
});
const T = "tables/fsi_aegdecisionlog";

describe("step decision-log", () => {
  it("is not applicable while the decision log is off", async () => {
    expect(decisionLogStep.plan(decisionLogStep.desired(await planInput()), {})).toEqual([{ action: "skipped", resource: T, fields: [], note: "dataverse.decisionLog.enabled is false" }]);
  });

  it("plans the table when it is on", async () => {
    const config = sampleConfig((raw) => (raw.dataverse = { ...raw.dataverse, decisionLog: { enabled: true } }));
    expect(writes(decisionLogStep.plan(decisionLogStep.desired(await planInput({ config })), {}))).toEqual([["create", T]]);
  });

  it.each<[string, (t: TableMetadata) => void, Array<[string, string]>]>([
    ["matching", () => {}, []],
    [
      "a missing column and a missing key are created",
      (t) => {
        t.Attributes = t.Attributes.filter((a) => a.LogicalName !== "fsi_anomaly");
        t.Keys = [];
      },
      [
        ["create", `${T}/columns/fsi_anomaly`],
        ["create", `${T}/keys/fsi_correlationid_key`],
      ],
    ],
    [
      "a column of another type or other option values is blocked",
      (t) => {
        t.Attributes.find((a) => a.LogicalName === "fsi_httpstatus")!.AttributeType = "String";
        t.Attributes.find((a) => a.LogicalName === "fsi_pathway")!.OptionSet = { Options: [{ Value: 1 }, { Value: 2 }] };
      },
      [
        ["blocked", `${T}/columns/fsi_pathway`],
        ["blocked", `${T}/columns/fsi_httpstatus`],
      ],
    ],
    ["a failed key index is blocked", (t) => (t.Keys[0]!.EntityKeyIndexStatus = "Failed"), [["blocked", `${T}/keys/fsi_correlationid_key`]]],
    ["a key still indexing cannot be checked yet", (t) => (t.Keys[0]!.EntityKeyIndexStatus = "Pending"), [["unverifiable", `${T}/keys/fsi_correlationid_key`]]],
    ["an entity set renamed by hand is blocked", (t) => (t.EntitySetName = "fsi_decisions"), [["blocked", T]]],
  ])("%s", (_name, edit, expected) => {
    const t = live();
    edit(t);
    expect(writes(decisionLogChanges(t))).toEqual(expected);
  });

  it("a blocked column is drift (exit 4) that names the fix, with the fields that differ", () => {
    const t = live();
    t.Attributes.find((a) => a.LogicalName === "fsi_httpstatus")!.AttributeType = "String";
    const change = decisionLogChanges(t).find((c) => c.action === "blocked")!;
    expect(change).toMatchObject({ exitCode: 4, fields: [{ field: "AttributeType", from: "String", to: "Integer" }] });
    expect(change.note).toMatch(/Dataverse cannot change a column's type/);
    expect(change.hint).toMatch(/maker portal/);
  });
});
