import { describe, expect, it } from "vitest";
import { graphGrantStep } from "../../src/steps/graph-grant.js";
import { planInput, PRINCIPAL_ID, sampleConfig } from "../support/seed.js";

const graph = {
  id: "graph-sp",
  appId: "00000003-0000-0000-c000-000000000000",
  appRoles: [
    { id: "role-gm", value: "GroupMember.Read.All", allowedMemberTypes: ["Application"] },
    { id: "role-u", value: "User.Read.All", allowedMemberTypes: ["Application"] },
  ],
};
const held = (appRoleId: string) => ({ id: `a-${appRoleId}`, resourceId: "graph-sp", appRoleId, principalId: PRINCIPAL_ID });
const on = sampleConfig((raw) => (raw.graphFallback = { enabled: true }));

describe("step graph-grant", () => {
  it.each([
    ["off, nothing granted: not applicable", false, [], ["skipped"]],
    ["off, a grant left over: revoked as excess", false, [held("role-u")], ["delete"]],
    ["on, nothing granted: both granted", true, [], ["create", "create"]],
    ["on, one granted: the other", true, [held("role-gm")], ["ok", "create"]],
    ["on, both granted", true, [held("role-gm"), held("role-u")], ["ok", "ok"]],
  ])("%s", async (_name, enabled, assignments, expected) => {
    const desired = graphGrantStep.desired(await planInput(enabled ? { config: on } : {}));
    expect(graphGrantStep.plan(desired, { graph, assignments }).map((c) => c.action)).toEqual(expected);
  });

  it("grants by the app-role id Graph itself publishes, and revokes by assignment id", async () => {
    const grants = graphGrantStep.plan(graphGrantStep.desired(await planInput({ config: on })), { graph, assignments: [] });
    expect(grants.map((c) => c.op)).toEqual([
      { kind: "grant", graphServicePrincipalId: "graph-sp", appRoleId: "role-gm" },
      { kind: "grant", graphServicePrincipalId: "graph-sp", appRoleId: "role-u" },
    ]);
    const [revoke] = graphGrantStep.plan(graphGrantStep.desired(await planInput()), { graph, assignments: [held("role-u")] });
    expect(revoke!.op).toEqual({ kind: "revoke", resourceId: "graph-sp", assignmentId: "a-role-u" });
  });

  it("is blocked when Graph does not publish the permission, or when apim will not create the identity", async () => {
    const [missing] = graphGrantStep.plan(graphGrantStep.desired(await planInput({ config: on })), { graph: { ...graph, appRoles: graph.appRoles.slice(0, 1) }, assignments: [] });
    expect(missing).toMatchObject({ action: "blocked", note: expect.stringMatching(/User\.Read\.All/) });
    const noIdentity = graphGrantStep.plan(graphGrantStep.desired(await planInput({ config: on, outputs: { apim: { identity: "blocked" } } })), { graph, assignments: [] });
    expect(noIdentity.map((c) => c.action)).toEqual(["blocked", "blocked"]);
  });
});
