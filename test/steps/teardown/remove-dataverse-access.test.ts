import { describe, expect, it } from "vitest";
import { removeDataverseAccessStep as step } from "../../../src/steps/teardown/dataverse-access.js";
import { planInput, writes } from "../../support/seed.js";
import { GONE, OURS, THEIRS } from "./gateways.js";

const APP = "app-1";
const user = (isdisabled = false) => ({ systemuserid: "u-1", applicationid: APP, isdisabled, _businessunitid_value: "bu" });
const READER = { roleid: "r-aeg", name: "AEG Gateway Reader", _businessunitid_value: "bu" };
const OTHER = { roleid: "r-other", name: "Basic User", _businessunitid_value: "bu" };
const base = { gateway: OURS, appId: APP, userRoles: [], otherHolders: [] };

describe("step remove-dataverse-access", () => {
  it.each([
    [
      "assignments first, then the role, then the user disabled",
      { ...base, user: user(), userRoles: [READER, OTHER], role: READER },
      [["delete", `applicationUsers/${APP}/roles/AEG Gateway Reader`], ["delete", `applicationUsers/${APP}/roles/Basic User`], ["delete", "roles/AEG Gateway Reader"], ["update", `applicationUsers/${APP}`]],
    ],
    ["a role another user still holds is kept", { ...base, user: user(), userRoles: [READER], role: READER, otherHolders: ["u-2"] }, [["delete", `applicationUsers/${APP}/roles/AEG Gateway Reader`], ["skipped", "roles/AEG Gateway Reader"], ["update", `applicationUsers/${APP}`]]],
    ["already disabled, no roles, no role", { ...base, user: user(true) }, []],
    ["the role left over without the user", { ...base, gateway: GONE, appId: undefined, role: READER }, [["delete", "roles/AEG Gateway Reader"]]],
    ["someone else's instance", { ...base, gateway: THEIRS, user: user(), role: READER }, [["skipped", `applicationUsers/${APP}`]]],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });

  it("disabling says why the user is not deleted", async () => {
    const changes = step.plan(step.desired(await planInput()), { ...base, user: user() } as never);
    expect(changes.at(-1)).toMatchObject({ action: "update", fields: [{ field: "isdisabled", from: false, to: true }], note: expect.stringMatching(/cannot delete an application user while its Entra identity exists/), op: { kind: "disable", userId: "u-1" } });
  });
});
