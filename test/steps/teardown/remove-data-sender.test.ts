import { describe, expect, it } from "vitest";
import { removeDataSenderStep as step } from "../../../src/steps/teardown/data-sender.js";
import { planInput, PRINCIPAL_ID, writes } from "../../support/seed.js";
import { GONE, OURS, THEIRS } from "./gateways.js";

const assignment = { name: "n-1", scope: "/subscriptions/s/.../eventhubs/aeg-decisions", principalId: PRINCIPAL_ID, roleDefinitionId: "/x/roleDefinitions/2b629674-e913-4c01-ae53-ef4638d8f975" };

describe("step remove-data-sender", () => {
  it.each([
    ["the assignment is deleted", { gateway: OURS, assignments: [assignment] }, [["delete", "roleAssignments/Azure Event Hubs Data Sender"]]],
    ["none left", { gateway: OURS, assignments: [] }, []],
    ["no instance", { gateway: GONE, assignments: [] }, []],
    ["someone else's instance", { gateway: THEIRS, assignments: [] }, [["skipped", "roleAssignments/Azure Event Hubs Data Sender"]]],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });

  it("deletes by scope and name, at the hub only", async () => {
    const input = await planInput();
    expect(step.desired(input).hubId).toMatch(/\/namespaces\/ehns-aeg-sandbox\/eventhubs\/aeg-decisions$/);
    expect(step.plan(step.desired(input), { gateway: OURS, assignments: [assignment] } as never)[0]!.op).toEqual({ scope: assignment.scope, name: "n-1" });
  });
});
