import { describe, expect, it } from "vitest";
import { appliedPlanOf, planMatch } from "../../src/report/applied-plan.js";

describe("the journal's record of the last apply", () => {
  it.each([
    ["no journal content", undefined, "none"],
    ["a journal without lastApply", { schemaVersion: 1, steps: {} }, "none"],
    ["lastApply without a plan digest", { lastApply: { changeId: "CHG-1" } }, "unreadable"],
    ["a full record", { lastApply: { planDigest: "sha256:AB", changeId: "CHG-1", planner: { objectId: "o", name: "n" }, applier: { name: "m" }, policyDigests: { "/x": "sha256:ff" } } }, "recorded"],
  ])("%s → %s", (_name, journal, state) => {
    expect(appliedPlanOf(journal).state).toBe(state);
  });

  it("strips the sha256: prefix and compares resource ids without case", () => {
    const record = appliedPlanOf({ lastApply: { planDigest: "sha256:AB", policyDigests: { "/Subscriptions/S/x": "sha256:FF" } } });
    expect(record).toMatchObject({ state: "recorded", plan: { planDigest: "AB" } });
    expect(planMatch(record, "/subscriptions/s/x", "ff")).toBe("matches");
    expect(planMatch(record, "/subscriptions/s/x", "ee")).toBe("differs");
    expect(planMatch(record, "/subscriptions/s/y", "ff")).toBe("not-in-plan");
    expect(planMatch(appliedPlanOf({}), "/subscriptions/s/x", "ff")).toBe("no-plan");
    expect(planMatch(appliedPlanOf({ lastApply: { planDigest: "ab" } }), "/subscriptions/s/x", "ff")).toBe("no-digests");
  });
});
