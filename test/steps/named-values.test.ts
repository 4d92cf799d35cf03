import { describe, expect, it } from "vitest";
import type { NamedValueContract } from "@azure/arm-apimanagement";
import { cloudProfile } from "../../src/azure/cloud.js";
import { AEG_NAMED_VALUES, desiredNamedValues } from "../../src/policy/named-values.js";
import { namedValuesStep } from "../../src/steps/named-values.js";
import { planInput, sampleConfig, writes } from "../support/seed.js";

async function planned(live: (id: string, value: string) => NamedValueContract | undefined) {
  const desired = namedValuesStep.desired(await planInput()) as { values: Array<{ id: string; body: { value: string } }> };
  const found = new Map(desired.values.flatMap(({ id, body }) => {
    const nv = live(id, body.value);
    return nv ? [[id.toLowerCase(), nv] as const] : [];
  }));
  return namedValuesStep.plan(desired, found);
}

const same = (id: string, value: string): NamedValueContract => ({ name: id, displayName: id, value, secret: false, tags: ["aeg"] });

describe("step named-values", () => {
  it("gives every agent its own named values, never a shared aeg-agent-id, and lists the globals once", () => {
    const ids = desiredNamedValues(sampleConfig(), cloudProfile({ name: "AzureCloud" })).map((n) => n.id);
    expect(ids).toContain("aeg-agent-id-contoso-kb-assistant");
    expect(ids).toContain("aeg-audience-group-id-contoso-hr-helper");
    expect(ids).not.toContain("aeg-agent-id");
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, AEG_NAMED_VALUES.global.length)).toEqual(AEG_NAMED_VALUES.global);
  });

  it.each([
    ["all missing: every value is created", () => undefined, "create", 20],
    ["all there: nothing to write", same, undefined, 0],
    ["one value edited out of band: that one is updated", (id: string, value: string) => same(id, id === "aeg-channel" ? "direct-line" : value), "update", 1],
    ["a value made secret by hand: made plain again", (id: string, value: string) => ({ ...same(id, value), secret: id === "aeg-tenant-id" }), "update", 1],
  ])("%s", async (_name, live, action, count) => {
    const changes = writes(await planned(live));
    expect(changes).toHaveLength(count);
    if (action) expect(new Set(changes.map(([a]) => a))).toEqual(new Set([action]));
  });

  it("shows the field that differs, and puts the PUT body in the op", async () => {
    const [change] = (await planned((id, value) => same(id, id === "aeg-channel" ? "direct-line" : value))).filter((c) => c.action !== "ok");
    // Named values of different names never wait for one another.
    expect(change).toMatchObject({ resource: "namedValues/aeg-channel", fields: [{ field: "value", from: "direct-line", to: "custom-web" }], apimWrite: true, after: [] });
    expect(change!.op).toEqual({ id: "aeg-channel", body: { displayName: "aeg-channel", value: "custom-web", secret: false, tags: ["aeg"] } });
  });
});
