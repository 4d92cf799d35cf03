import { describe, expect, it } from "vitest";
import { removeApiStep as step } from "../../../src/steps/teardown/api.js";
import { planInput, writes } from "../../support/seed.js";
import { OURS, THEIRS } from "./gateways.js";

describe("step remove-api", () => {
  it.each([
    ["the API goes, naming what goes with it", { gateway: OURS, apis: [{ apiId: "aeg-gateway", api: { path: "agents" }, operations: ["kb", "hr"] }] }, [["delete", "apis/aeg-gateway"]]],
    [
      "every API the agents were spread over goes",
      { gateway: OURS, apis: [{ apiId: "aeg-gateway", api: { path: "agents" }, operations: ["kb"] }, { apiId: "aeg-gateway-2", api: { path: "agents-2" }, operations: ["hr"] }] },
      [["delete", "apis/aeg-gateway"], ["delete", "apis/aeg-gateway-2"]],
    ],
    ["no API", { gateway: OURS, apis: [] }, []],
    ["someone else's instance", { gateway: THEIRS, apis: [] }, [["skipped", "apis/aeg-gateway"]]],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });

  it("one write through the APIM queue; the operations are shown, not deleted one by one", async () => {
    const [change] = step.plan(step.desired(await planInput()), { gateway: OURS, apis: [{ apiId: "aeg-gateway", api: { path: "agents" }, operations: ["kb", "hr"] }] } as never);
    expect(change).toMatchObject({ apimWrite: true, op: { apiId: "aeg-gateway" }, fields: [{ field: "path", from: "agents", to: null }, { field: "operations", from: ["kb", "hr"], to: null }] });
  });
});
