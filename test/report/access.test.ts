import { describe, expect, it } from "vitest";
import { judgeAzureRoles, judgeDataverseRoles, judgeGraphRoles } from "../../src/report/access.js";

const SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";
const HUB = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/eventhubs/hub";
const def = (guid: string) => `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

describe("judgeAzureRoles", () => {
  const design = { roleDefinitionGuid: SENDER, scope: HUB, why: "sends records" };
  it.each([
    ["Data Sender on the hub", [{ roleDefinitionId: def(SENDER), scope: HUB }], [["Azure Event Hubs Data Sender", "expected"]]],
    ["Data Sender on the namespace instead", [{ roleDefinitionId: def(SENDER), scope: HUB.replace(/\/eventhubs\/hub$/, "") }], [["Azure Event Hubs Data Sender", "excess"], ["Azure Event Hubs Data Sender", "missing"]]],
    ["plus Contributor on the resource group", [{ roleDefinitionId: def(SENDER), scope: HUB.toUpperCase() }, { roleDefinitionId: def("b24988ac-6180-42a0-ab88-20f7382dd24c"), scope: "/subscriptions/s/resourceGroups/rg" }], [["Azure Event Hubs Data Sender", "expected"], ["Contributor", "excess"]]],
    ["nothing", [], [["Azure Event Hubs Data Sender", "missing"]]],
  ])("%s", (_name, held, verdicts) => {
    expect(judgeAzureRoles(held, design).map((r) => [r.role, r.verdict])).toEqual(verdicts);
  });
});

describe("judgeDataverseRoles", () => {
  const read = { id: "r1", name: "prvReadfsi_A", depth: "Global" as const };
  const create = { id: "c1", name: "prvCreatefsi_Log", depth: "Global" as const };
  const design = { roleName: "AEG Gateway Reader", privileges: [read, create], why: new Map([["r1", "the policy reads fsi_as"]]) };
  it("marks the design's privileges expected, others and wrong depths excess, and absent ones missing", () => {
    const rows = judgeDataverseRoles(
      [
        { roleId: "1", name: "AEG Gateway Reader", privileges: [{ id: "R1", name: "prvReadfsi_A", depth: 3 }, { id: "c1", name: "prvCreatefsi_Log", depth: "Basic" }, { id: "w1", name: "prvWritefsi_A", depth: "Global" }] },
        { roleId: "2", name: "System Administrator", privileges: [{ id: "x", name: "prvReadAccount", depth: "Global" }] },
      ],
      design,
    );
    expect(rows.map((r) => [r.name, r.verdict, r.privileges.map((p) => `${p.name}/${p.depth}:${p.verdict}`)])).toEqual([
      ["AEG Gateway Reader", "expected", ["prvReadfsi_A/Global:expected", "prvCreatefsi_Log/Basic:excess", "prvWritefsi_A/Global:excess", "prvCreatefsi_Log/Global:missing"]],
      ["System Administrator", "excess", ["prvReadAccount/Global:excess"]],
    ]);
  });

  it("reports the role itself missing when it is not assigned", () => {
    expect(judgeDataverseRoles([], design)).toEqual([expect.objectContaining({ name: "AEG Gateway Reader", verdict: "missing", privileges: [expect.objectContaining({ verdict: "missing" }), expect.objectContaining({ verdict: "missing" })] })]);
  });
});

describe("judgeGraphRoles", () => {
  const graph = { id: "g", appRoles: [{ id: "gm", value: "GroupMember.Read.All" }, { id: "u", value: "User.Read.All" }, { id: "d", value: "Directory.ReadWrite.All" }] };
  const fallback = ["GroupMember.Read.All", "User.Read.All"];
  it.each([
    ["fallback off, nothing held", [], false, []],
    ["fallback off, a grant left behind", [{ resourceId: "g", appRoleId: "u" }], false, ["User.Read.All:excess"]],
    ["fallback on, one of two held", [{ resourceId: "g", appRoleId: "gm" }], true, ["GroupMember.Read.All:expected", "User.Read.All:missing"]],
    ["fallback on, both plus more", [{ resourceId: "g", appRoleId: "gm" }, { resourceId: "g", appRoleId: "u" }, { resourceId: "g", appRoleId: "d" }], true, ["GroupMember.Read.All:expected", "User.Read.All:expected", "Directory.ReadWrite.All:excess"]],
  ])("%s", (_name, held, on, verdicts) => {
    expect(judgeGraphRoles(held, graph, fallback, on).map((r) => `${r.permission}:${r.verdict}`)).toEqual(verdicts);
  });
});
