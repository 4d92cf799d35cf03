import { describe, expect, it } from "vitest";
import { removeLoggerStep as step } from "../../../src/steps/teardown/logger.js";
import { planInput, writes } from "../../support/seed.js";
import { OURS, THEIRS } from "./gateways.js";

describe("step remove-logger", () => {
  it.each([
    ["the logger goes", { gateway: OURS, logger: { loggerType: "azureEventHub" } }, [["delete", "loggers/aeg-decision-logger"]]],
    ["none", { gateway: OURS }, []],
    ["someone else's instance", { gateway: THEIRS }, [["skipped", "loggers/aeg-decision-logger"]]],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });
});
