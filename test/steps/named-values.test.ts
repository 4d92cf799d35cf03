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

  it("more named values than the tier holds: blocked before any write, with exit 2 and how many agents fit", async () => {
    const config = sampleConfig((raw) => {
      raw.agents = Array.from({ length: 2_495 }, (_, i) => ({ ...raw.agents[0], id: `agent-${i + 1}` }));
    });
    const desired = namedValuesStep.desired(await planInput({ config }));
    // Four named values someone else made on the instance.
    const found = new Map(["payroll-key", "crm-url", "erp-id", "hr-flag"].map((id) => [id, { name: id } as NamedValueContract]));
    const [first] = namedValuesStep.plan(desired, found);
    expect(first).toMatchObject({ action: "blocked", resource: "namedValues", exitCode: 2 });
    expect(first!.note).toBe(
      `agents: 2495 agents need ${2 * 2_495 + AEG_NAMED_VALUES.global.length} named values (2 each and ${AEG_NAMED_VALUES.global.length} shared) beside the 4 already there; the Developer tier of API Management holds 5000 per instance: at most 2490 agents fit`,
    );
    // The same agents fit a tier that holds more.
    const standard = sampleConfig((raw) => {
      raw.apim.sku = "Standard";
      raw.agents = config.agents;
    });
    expect(namedValuesStep.plan(namedValuesStep.desired(await planInput({ config: standard })), found).some((c) => c.action === "blocked")).toBe(false);
  });
});
