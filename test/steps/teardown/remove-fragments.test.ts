import { describe, expect, it } from "vitest";
import { removeFragmentsStep as step } from "../../../src/steps/teardown/fragments.js";
import { planInput, writes } from "../../support/seed.js";
import { OURS, THEIRS } from "./gateways.js";

const unused = (id: string) => ({ id, usedBy: [] });

describe("step remove-fragments", () => {
  it.each([
    ["both go", { gateway: OURS, found: [unused("aeg-validate-jwt"), unused("aeg-eligibility-check")] }, [["delete", "policyFragments/aeg-validate-jwt"], ["delete", "policyFragments/aeg-eligibility-check"]]],
    ["one left from an interrupted run", { gateway: OURS, found: [unused("aeg-eligibility-check")] }, [["delete", "policyFragments/aeg-eligibility-check"]]],
    ["none", { gateway: OURS, found: [] }, []],
    [
      "one still included by a policy aeg did not make: blocked",
      { gateway: OURS, found: [{ id: "aeg-validate-jwt", usedBy: ["/subscriptions/s/resourceGroups/r/providers/Microsoft.ApiManagement/service/x/apis/payroll/policies/policy"] }, unused("aeg-eligibility-check")] },
      [["blocked", "policyFragments/aeg-validate-jwt"], ["delete", "policyFragments/aeg-eligibility-check"]],
    ],
    ["someone else's instance", { gateway: THEIRS, found: [] }, [["skipped", "policyFragments/aeg-validate-jwt"], ["skipped", "policyFragments/aeg-eligibility-check"]]],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });

  it("a blocked fragment names the policy that holds it, with exit 2", async () => {
    const [change] = step.plan(step.desired(await planInput()), { gateway: OURS, found: [{ id: "aeg-validate-jwt", usedBy: [".../service/x/apis/payroll/policies/policy"] }] } as never);
    expect(change).toMatchObject({ action: "blocked", exitCode: 2, note: "still included by apis/payroll, which aeg did not make" });
  });

  it("references from aeg's own APIs, the spread ones too, do not hold a fragment back", async () => {
    // observe() filters them out; the same rule decides here which references are someone else's.
    const { shardIndexOf } = await import("../../../src/steps/api-shards.js");
    const gateway = (await planInput()).config.gateway;
    expect(["aeg-gateway", "aeg-gateway-2", "AEG-GATEWAY-12"].map((id) => shardIndexOf(gateway, id))).toEqual([1, 2, 12]);
    expect(["aeg-gateway-1", "aeg-gateway-02", "aeg-gateway-x", "payroll"].map((id) => shardIndexOf(gateway, id))).toEqual([undefined, undefined, undefined, undefined]);
  });
});
