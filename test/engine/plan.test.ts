import { describe, expect, it } from "vitest";
import { levels, SerialQueue } from "../../src/engine/graph.js";
import { diffFields, planStatus, publicChange } from "../../src/engine/plan.js";
import { roleAssignmentName } from "../../src/steps/telemetry.js";
import { desiredNamedValues } from "../../src/steps/named-values.js";
import { resolveConfig } from "../../src/config/load.js";
import { sandboxSampleConfig } from "../../src/config/sandbox-sample.js";
import { cloudProfile } from "../../src/azure/cloud.js";

describe("plans", () => {
  it("summarise a step from its changes", () => {
    expect(planStatus([])).toBe("ok");
    expect(planStatus([{ action: "ok", resource: "a", fields: [] }])).toBe("ok");
    expect(planStatus([{ action: "ok", resource: "a", fields: [] }, { action: "create", resource: "b", fields: [] }])).toBe("create");
    expect(planStatus([{ action: "create", resource: "a", fields: [] }, { action: "update", resource: "b", fields: [] }])).toBe("update");
    expect(planStatus([{ action: "unverifiable", resource: "a", fields: [] }])).toBe("unverifiable");
  });

  it("diff only the fields the desired side names, by value", () => {
    expect(diffFields({ a: 1, b: ["x"], c: undefined }, { a: 1, b: ["x"], z: 9 })).toEqual([]);
    expect(diffFields({ a: 1, b: ["x", "y"] }, { a: 2, b: ["x"] })).toEqual([
      { field: "a", from: 2, to: 1 },
      { field: "b", from: ["x"], to: ["x", "y"] },
    ]);
    expect(diffFields({ secret: "s3cr3t" }, { secret: "old" }, ["secret"])).toEqual([{ field: "secret", secret: true }]);
  });

  it("never put a secret or a write into the public form of a change", () => {
    const shown = publicChange({ action: "update", resource: "loggers/x", fields: [{ field: "credentials", secret: true, to: "Endpoint=sb://x;SharedAccessKey=abc" }], write: async () => {} });
    expect(JSON.stringify(shown)).not.toContain("SharedAccessKey");
    expect(shown).not.toHaveProperty("write");
  });
});

describe("ordering", () => {
  it("puts each step after what it needs, independent steps together", () => {
    const steps = [
      { id: "api", needs: ["fragments"] },
      { id: "fragments", needs: ["named-values", "telemetry"] },
      { id: "telemetry", needs: ["apim"] },
      { id: "named-values", needs: ["apim"] },
      { id: "apim", needs: ["resource-group"] },
      { id: "resource-group", needs: [] },
    ];
    expect(levels(steps).map((l) => l.map((s) => s.id).sort())).toEqual([["resource-group"], ["apim"], ["named-values", "telemetry"], ["fragments"], ["api"]]);
    expect(() => levels([{ id: "a", needs: ["b"] }, { id: "b", needs: ["a"] }])).toThrow(/cycle/);
  });

  it("runs queued writes one at a time, even when one fails", async () => {
    const queue = new SerialQueue();
    let running = 0;
    let most = 0;
    const job = (fail: boolean) =>
      queue.run(async () => {
        running++;
        most = Math.max(most, running);
        await Promise.resolve();
        running--;
        if (fail) throw new Error("409");
      });
    const results = await Promise.allSettled([job(false), job(true), job(false)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(most).toBe(1);
  });
});

describe("desired state", () => {
  const config = resolveConfig({ ...sandboxSampleConfig(), subscriptionId: "00000000-1111-2222-3333-444444444444", tenantId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" });

  it("gives every agent its own named values, never a shared aeg-agent-id", () => {
    const ids = desiredNamedValues(config, cloudProfile({ name: "AzureCloud" })).map((n) => n.id);
    expect(ids).toContain("aeg-agent-id-contoso-kb-assistant");
    expect(ids).toContain("aeg-audience-group-id-contoso-hr-helper");
    expect(ids).not.toContain("aeg-agent-id");
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("names a role assignment the same way every time, as a version-5 GUID", () => {
    const a = roleAssignmentName("/subscriptions/s/rg/x", "/roleDefinitions/r", "p");
    expect(a).toBe(roleAssignmentName("/SUBSCRIPTIONS/s/rg/x", "/roleDefinitions/r", "p"));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(roleAssignmentName("/subscriptions/s/rg/x", "/roleDefinitions/r", "q"));
  });
});
