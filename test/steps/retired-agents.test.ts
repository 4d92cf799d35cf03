import { describe, expect, it } from "vitest";
import { retiredAgentsStep } from "../../src/steps/retired-agents.js";
import { planInput, writes } from "../support/seed.js";

const nv = (name: string) => ({ name, value: "x" });

describe("step retired-agents", () => {
  it.each([
    ["nothing per-agent beyond the configuration", [nv("aeg-agent-id-contoso-kb-assistant"), nv("aeg-audience-group-id-contoso-hr-helper")], []],
    [
      "a removed agent's pair is deleted",
      [nv("aeg-agent-id-contoso-kb-assistant"), nv("aeg-agent-id-old-bot"), nv("aeg-audience-group-id-old-bot")],
      [
        ["delete", "namedValues/aeg-agent-id-old-bot"],
        ["delete", "namedValues/aeg-audience-group-id-old-bot"],
      ],
    ],
  ])("%s", async (_name, live, expected) => {
    const changes = retiredAgentsStep.plan(retiredAgentsStep.desired(await planInput()), live);
    expect(writes(changes)).toEqual(expected);
    for (const c of changes) expect(c.op).toEqual({ id: c.resource.split("/")[1] });
  });
});
