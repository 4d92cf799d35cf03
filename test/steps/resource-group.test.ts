import { describe, expect, it } from "vitest";
import { resourceGroupStep } from "../../src/steps/resource-group.js";
import { planInput, SAMPLE, writes } from "../support/seed.js";

describe("step resource-group", () => {
  it.each([
    ["missing", undefined, [["create", `resourceGroups/${SAMPLE.resourceGroup}`]]],
    ["there", { id: "/subscriptions/s/resourceGroups/rg", location: "westeurope" }, []],
    // Never modified: a group in another region is the user's choice, not drift.
    ["elsewhere", { id: "/subscriptions/s/resourceGroups/rg", location: "northeurope" }, []],
  ])("plans %s", async (_name, observed, expected) => {
    const desired = resourceGroupStep.desired(await planInput());
    expect(writes(resourceGroupStep.plan(desired, observed))).toEqual(expected);
  });

  it("carries the whole write as data", async () => {
    const [change] = resourceGroupStep.plan(resourceGroupStep.desired(await planInput()), undefined);
    expect(change!.op).toEqual({ name: SAMPLE.resourceGroup, body: { location: "westeurope", tags: { "managed-by": "aeg" } } });
  });
});
