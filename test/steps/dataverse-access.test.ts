import { RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { DUPLICATE_RECORD, type TableDefinition } from "../../src/azure/dataverse.js";
import type { RunContext } from "../../src/engine/step.js";
import { dataverseAccessStep } from "../../src/steps/dataverse-access.js";
import { planInput, PRINCIPAL_ID } from "../support/seed.js";

const table = (entitySet: string, read: string): TableDefinition => ({ LogicalName: entitySet.slice(0, -1), SchemaName: entitySet, EntitySetName: entitySet, Privileges: [{ PrivilegeId: read, Name: `prvRead${entitySet}`, PrivilegeType: "Read", CanBeGlobal: true }] });
const role = { roleid: "r1", name: "AEG Gateway Reader", _businessunitid_value: "root" };
const user = { systemuserid: "u1", applicationid: "app", isdisabled: false, _businessunitid_value: "root" };

async function plan(edit: (o: Record<string, any>) => void = () => {}, outputs?: Record<string, Record<string, string>>) {
  const desired = dataverseAccessStep.desired(await planInput(outputs ? { outputs } : {})) as { entitySets: string[] };
  const tables = desired.entitySets.map((s, i) => ({ entitySet: s, table: table(s, `p${i}`) }));
  const observed: Record<string, any> = {
    rootBusinessUnit: "root",
    appId: "app",
    tables,
    user,
    role,
    rolePrivileges: tables.map((t) => ({ PrivilegeId: t.table.Privileges[0]!.PrivilegeId, PrivilegeName: t.table.Privileges[0]!.Name, Depth: "Global" })),
    userRoles: [role],
  };
  edit(observed);
  return dataverseAccessStep.plan(desired, observed);
}

const summary = (changes: Array<{ action: string; resource: string }>) => changes.map((c) => `${c.action} ${c.resource.replace(/^applicationUsers\/[^/]+/, "user")}`);

describe("step dataverse-access", () => {
  it.each<[string, (o: Record<string, any>) => void, string[]]>([
    ["all in place", () => {}, ["ok user", "ok roles/AEG Gateway Reader", "ok user/roles/AEG Gateway Reader"]],
    [
      "a fresh environment: user, role and assignment",
      (o) => Object.assign(o, { user: undefined, role: undefined, rolePrivileges: [], userRoles: [] }),
      ["create user", "create roles/AEG Gateway Reader", "create user/roles/AEG Gateway Reader"],
    ],
    ["a disabled user is enabled again", (o) => (o.user = { ...user, isdisabled: true }), ["update user", "ok roles/AEG Gateway Reader", "ok user/roles/AEG Gateway Reader"]],
    // Least privilege: a privilege nobody asked for goes.
    ["an extra privilege is removed", (o) => o.rolePrivileges.push({ PrivilegeId: "extra", PrivilegeName: "prvWriteAccount", Depth: "Global" }), ["ok user", "update roles/AEG Gateway Reader", "ok user/roles/AEG Gateway Reader"]],
    ["a read at a narrower depth is widened", (o) => (o.rolePrivileges[0].Depth = "Basic"), ["ok user", "update roles/AEG Gateway Reader", "ok user/roles/AEG Gateway Reader"]],
    [
      "a table the policy reads is missing: reported, never created",
      (o) => (o.tables[0].table = undefined),
      ["unverifiable tables/fsi_caicompliancestates", "ok user", "update roles/AEG Gateway Reader", "ok user/roles/AEG Gateway Reader"],
    ],
  ])("%s", async (_name, edit, expected) => {
    expect(summary(await plan(edit))).toEqual(expected);
  });

  it("blocks the user and the assignment when apim will not create the identity", async () => {
    const changes = await plan((o) => Object.assign(o, { appId: undefined, user: undefined, userRoles: [] }), { apim: { identity: "blocked" } });
    expect(changes.map((c) => c.action)).toEqual(["blocked", "ok", "blocked"]);
  });

  it("adopts an application user someone created between its read and its write (412 0x80040237)", async () => {
    let lookups = 0;
    const dv = {
      applicationUser: async () => (lookups++ === 0 ? undefined : user),
      rootBusinessUnit: async () => "root",
      createApplicationUser: async () => {
        throw new RestError("A record with matching key values already exists.", { statusCode: 412, code: DUPLICATE_RECORD });
      },
      setUserDisabled: async () => {
        throw new Error("must not be called");
      },
    };
    const ctx = { outputs: { apim: { principalId: PRINCIPAL_ID } }, clients: { dataverse: dv, graph: { servicePrincipal: async () => ({ id: PRINCIPAL_ID, appId: "APP" }) } } } as unknown as RunContext;
    await expect(dataverseAccessStep.apply(ctx, { action: "create", resource: "applicationUsers/app", fields: [], op: { kind: "user", name: "AEG gateway" } })).resolves.toBeUndefined();
    expect(lookups).toBe(2);
  });
});
