import { describe, expect, it } from "vitest";
import { levels } from "../../../src/engine/graph.js";
import { TEARDOWN_STEPS } from "../../../src/steps/teardown/index.js";
import { STEP_ROLES } from "../../../src/steps/roles.js";

describe("teardown order", () => {
  it("identity-bound grants first, then the API, fragments, named values, logger, instance, Event Hub", () => {
    expect(levels([...TEARDOWN_STEPS]).map((level) => level.map((s) => s.id).sort())).toEqual([
      ["remove-data-sender", "remove-dataverse-access", "remove-graph-grant"],
      ["remove-api"],
      ["remove-fragments"],
      ["remove-named-values"],
      ["remove-logger"],
      ["remove-apim"],
      ["remove-telemetry"],
    ]);
  });

  it("every step names the role it needs", () => {
    for (const step of TEARDOWN_STEPS) expect(STEP_ROLES[step.id]).toBeTruthy();
  });
});
