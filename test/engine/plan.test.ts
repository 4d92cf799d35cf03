import { describe, expect, it } from "vitest";
import { levels } from "../../src/engine/graph.js";
import { diffFields, planStatus, publicChange } from "../../src/engine/plan.js";

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

  it("never put a secret or a write's payload into the public form of a change", () => {
    const shown = publicChange({ action: "update", resource: "loggers/x", fields: [{ field: "credentials", secret: true, to: "Endpoint=sb://x;SharedAccessKey=abc" }], op: { body: "payload" } });
    expect(JSON.stringify(shown)).not.toContain("SharedAccessKey");
    expect(shown).not.toHaveProperty("op");
  });

  it("a blocked change makes the step blocked, whatever else it plans", () => {
    expect(planStatus([{ action: "create", resource: "a", fields: [] }, { action: "blocked", resource: "b", fields: [], note: "why", exitCode: 2 }])).toBe("blocked");
    expect(publicChange({ action: "blocked", resource: "b", fields: [], note: "why", hint: "do this", exitCode: 2 })).toEqual({ action: "blocked", resource: "b", note: "why", hint: "do this", exitCode: 2, fields: [] });
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
});
