import { describe, expect, it } from "vitest";
import { removeNamedValuesStep as step } from "../../../src/steps/teardown/named-values.js";
import { planInput, writes } from "../../support/seed.js";
import { OURS, THEIRS } from "./gateways.js";

const nv = (name: string) => ({ name, tags: ["aeg"] });

describe("step remove-named-values", () => {
  it.each([
    ["every tagged value goes, a retired agent's too", { gateway: OURS, tagged: [nv("aeg-tenant-id"), nv("aeg-agent-id-old-bot")] }, [["delete", "namedValues/aeg-tenant-id"], ["delete", "namedValues/aeg-agent-id-old-bot"]]],
    ["none", { gateway: OURS, tagged: [] }, [] as string[][]],
    ["someone else's instance", { gateway: THEIRS, tagged: [] }, [["skipped", "namedValues"]]],
  ])("%s", async (_name, observed, expected) => {
    const changes = step.plan(step.desired(await planInput()), observed as never);
    expect(writes(changes)).toEqual(expected);
    for (const c of changes.filter((c) => c.action === "delete")) expect(c).toMatchObject({ apimWrite: true, op: { id: c.resource.split("/")[1] } });
  });
});
