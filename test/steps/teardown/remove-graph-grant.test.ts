import { describe, expect, it } from "vitest";
import { removeGraphGrantStep as step } from "../../../src/steps/teardown/graph-grant.js";
import { planInput, PRINCIPAL_ID, writes } from "../../support/seed.js";
import { GONE, OURS, THEIRS } from "./gateways.js";

const GRAPH = { id: "graph-sp", appId: "00000003-0000-0000-c000-000000000000", appRoles: [{ id: "r-gm", value: "GroupMember.Read.All", allowedMemberTypes: ["Application"] }, { id: "r-u", value: "User.Read.All", allowedMemberTypes: ["Application"] }] };
const grant = (appRoleId: string, resourceId = "graph-sp") => ({ id: `a-${appRoleId}`, appRoleId, principalId: PRINCIPAL_ID, resourceId });

describe("step remove-graph-grant", () => {
  it.each([
    ["both fallback grants held: both revoked", { gateway: OURS, graph: GRAPH, assignments: [grant("r-gm"), grant("r-u")] }, [["delete", "appRoleAssignments/Microsoft Graph/GroupMember.Read.All"], ["delete", "appRoleAssignments/Microsoft Graph/User.Read.All"]]],
    ["a grant on another resource is not aeg's", { gateway: OURS, graph: GRAPH, assignments: [grant("r-gm", "other-api")] }, []],
    ["nothing held", { gateway: OURS, graph: GRAPH, assignments: [] }, []],
    ["no instance and nothing recorded", { gateway: GONE, assignments: [] }, []],
    ["someone else's instance", { gateway: THEIRS, assignments: [grant("r-gm")] }, [["skipped", "appRoleAssignments/Microsoft Graph"]]],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });

  it("a revocation names the assignment to delete, nothing else", async () => {
    const [change] = step.plan(step.desired(await planInput()), { gateway: OURS, graph: GRAPH, assignments: [grant("r-u")] } as never);
    expect(change!.op).toEqual({ resourceId: "graph-sp", assignmentId: "a-r-u" });
  });
});
