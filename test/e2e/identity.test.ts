// Steps 5 and 8 and the agent precondition end to end: the built CLI against a sandbox tenant,
// out-of-band changes made through the sandbox's Dataverse and Graph with the operator's token.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";

const DV = "/api/data/v9.2";
let tenant: TestTenant;
let fallbackConfig: string;
let readerConfig: string;
let badAgentsConfig: string;

type Out = { status: string; exitCode: number; steps: Array<{ id: string; status: string; changes: Array<{ action: string; resource: string; fields: Array<Record<string, unknown>> }> }>; agents?: unknown[] };
const aeg = (config: string, ...args: string[]) => runAeg([...args, "--config", config, "--skip-validation"], { cwd: tenant.cwd });
const doctor = (config: string, ...args: string[]) => runAeg(["doctor", ...args, "--config", config], { cwd: tenant.cwd });
const step = (out: Out, id: string) => out.steps.find((s) => s.id === id)!;

async function token(scope: string): Promise<string> {
  const { sandbox: sb } = tenant;
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope }) });
  return ((await res.json()) as { access_token: string }).access_token;
}
async function call(base: string, scope: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${p}`, { method, headers: { authorization: `Bearer ${await token(scope)}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}
const dv = (method: string, p: string, body?: unknown) => call(tenant.sandbox.dataverse, `${tenant.sandbox.dataverse}/.default`, method, `${DV}${p}`, body);
const graph = (method: string, p: string, body?: unknown) => call(tenant.sandbox.graph, "https://graph.microsoft.com/.default", method, `/v1.0${p}`, body);
const writes = async () => {
  const [d, g] = await Promise.all([`${tenant.sandbox.dataverse}/_sandbox/identity/requests`, `${tenant.sandbox.graph}/_sandbox/identity/requests`].map(async (u) => ((await (await fetch(u)).json()) as { writes: number }).writes));
  return d! + g!;
};
const resetWrites = () => Promise.all([tenant.sandbox.dataverse, tenant.sandbox.graph].map((b) => fetch(`${b}/_sandbox/identity/requests/reset`, { method: "POST" })));

async function gatewayIdentity(): Promise<{ principalId: string; appId: string }> {
  const service = await tenant.apim.apiManagementService.get("rg-aeg-sandbox", "apim-aeg-sandbox");
  const principalId = service.identity!.principalId!;
  return { principalId, appId: (await graph("GET", `/servicePrincipals/${principalId}`)).appId };
}
async function gatewayRole(): Promise<{ roleid: string }> {
  return (await dv("GET", `/roles?$filter=name eq 'AEG Gateway Reader'`)).value[0];
}

beforeAll(async () => {
  tenant = await testTenant();
  const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
  fallbackConfig = path.join(tenant.cwd, "fallback.yaml");
  await writeFile(fallbackConfig, stringify({ ...config, graphFallback: { enabled: true } }));
  const secret = path.join(tenant.cwd, "reader.secret");
  await writeFile(secret, tenant.sandbox.readerClientSecret);
  readerConfig = path.join(tenant.cwd, "reader.yaml");
  await writeFile(readerConfig, stringify({ ...config, graphFallback: { enabled: true }, auth: { clientId: tenant.sandbox.readerClientId, clientSecretFile: secret } }));
  badAgentsConfig = path.join(tenant.cwd, "bad-agents.yaml");
  await writeFile(badAgentsConfig, stringify({ ...config, agents: [
    { id: "research", audienceGroupId: "11111111-2222-3333-4444-555555555555", schemaName: "contoso_researchAgent" },
    { id: "open-helper", audienceGroupId: "11111111-2222-3333-4444-555555555555", schemaName: "contoso_openHelper" },
    { id: "kb", audienceGroupId: "11111111-2222-3333-4444-555555555555", schemaName: "contoso_kbAssistant" },
  ] }));
  // The APIM instance first, then a user for its identity made by "someone else" before aeg runs step 5.
  expect((await aeg(tenant.configFile, "setup", "--ci")).code).toBe(0);
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("step 5: Dataverse application user and least-privilege role", () => {
  it("binds the user to the identity's appId (not its object id), with exactly Read on the tables the policy reads", async () => {
    const { principalId, appId } = await gatewayIdentity();
    expect(appId).not.toBe(principalId);
    const users = (await dv("GET", `/systemusers?$filter=applicationid eq ${appId}`)).value;
    expect(users).toHaveLength(1);
    const role = await gatewayRole();
    const privileges = (await dv("GET", `/RetrieveRolePrivilegesRole(RoleId=${role.roleid})`)).RolePrivileges as Array<{ PrivilegeName: string; Depth: string }>;
    expect(privileges.map((p) => `${p.PrivilegeName}:${p.Depth}`).sort()).toEqual(["prvReadfsi_CaiComplianceState:Global", "prvReadfsi_CbgEntitlementMaterialized:Global"]);
    const assigned = (await dv("GET", `/systemusers(${users[0].systemuserid})/systemuserroles_association`)).value;
    expect(assigned.map((r: { roleid: string }) => r.roleid)).toEqual([role.roleid]);
  });

  it("re-runs with zero writes", async () => {
    await resetWrites();
    const run = await aeg(tenant.configFile, "setup", "--ci", "--json");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).status).toBe("in-sync");
    expect(await writes()).toBe(0);
  });

  it("shows an extra privilege as drift (exit 4) and setup removes it", async () => {
    const role = await gatewayRole();
    const table = (await dv("GET", `/EntityDefinitions?$select=Privileges&$filter=LogicalName eq 'fsi_caicompliancestate'`)).value[0];
    const write = table.Privileges.find((p: { PrivilegeType: string }) => p.PrivilegeType === "Write");
    await dv("POST", `/roles(${role.roleid})/Microsoft.Dynamics.CRM.AddPrivilegesRole`, { Privileges: [{ PrivilegeId: write.PrivilegeId, Depth: "Global" }] });
    const drift = await doctor(tenant.configFile, "--json");
    expect(drift.code).toBe(4);
    expect(step(JSON.parse(drift.stdout), "dataverse-access").changes.find((c) => c.action === "update")).toEqual({
      action: "update",
      resource: "roles/AEG Gateway Reader",
      fields: [{ field: "prvWritefsi_CaiComplianceState", from: "Global", to: null }],
    });
    expect((await aeg(tenant.configFile, "setup", "--ci")).code).toBe(0);
    expect((await doctor(tenant.configFile)).code).toBe(0);
  });

  it("restores a role assignment removed out of band", async () => {
    const { appId } = await gatewayIdentity();
    const user = (await dv("GET", `/systemusers?$filter=applicationid eq ${appId}`)).value[0];
    const role = await gatewayRole();
    await dv("DELETE", `/systemusers(${user.systemuserid})/systemuserroles_association(${role.roleid})/$ref`);
    const plan = JSON.parse((await doctor(tenant.configFile, "--json")).stdout) as Out;
    expect(step(plan, "dataverse-access").changes.some((c) => c.action === "create" && c.resource.endsWith("/roles/AEG Gateway Reader"))).toBe(true);
    expect((await aeg(tenant.configFile, "setup", "--ci")).code).toBe(0);
    expect((await dv("GET", `/systemusers(${user.systemuserid})/systemuserroles_association`)).value).toHaveLength(1);
  });

  it("re-enables a disabled application user", async () => {
    const { appId } = await gatewayIdentity();
    const user = (await dv("GET", `/systemusers?$filter=applicationid eq ${appId}`)).value[0];
    await dv("PATCH", `/systemusers(${user.systemuserid})`, { isdisabled: true });
    expect((await doctor(tenant.configFile)).code).toBe(4);
    expect((await aeg(tenant.configFile, "setup", "--ci")).code).toBe(0);
    expect((await dv("GET", `/systemusers(${user.systemuserid})`)).isdisabled).toBe(false);
  });
});

describe("step 8: Microsoft Graph grant for the overage fallback", () => {
  it("a caller without the rights gets exit 3 naming the role, before any write", async () => {
    await resetWrites();
    const run = await aeg(readerConfig, "setup", "--ci");
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/Privileged Role Administrator|System Administrator/);
    expect(await writes()).toBe(0);
  });

  it("grants GroupMember.Read.All and User.Read.All once, noting the propagation delay; a re-run writes nothing", async () => {
    const run = await aeg(fallbackConfig, "setup", "--ci", "--json");
    expect(run.code).toBe(0);
    const grant = step(JSON.parse(run.stdout) as Out, "graph-grant");
    expect(grant.status).toBe("created");
    const { principalId } = await gatewayIdentity();
    const held = (await graph("GET", `/servicePrincipals/${principalId}/appRoleAssignments`)).value.map((a: { appRoleId: string }) => a.appRoleId).sort();
    expect(held).toEqual(["98830695-27a2-44f7-8c18-0c3ebc9698f6", "df021288-bdef-4463-88db-98f22de89214"]);
    await resetWrites();
    expect((await aeg(fallbackConfig, "setup", "--ci")).code).toBe(0);
    expect(await writes()).toBe(0);
  });

  it("with the fallback off, doctor reports the grant as excess privilege", async () => {
    const out = await doctor(tenant.configFile, "--json");
    expect(out.code).toBe(4);
    const grant = step(JSON.parse(out.stdout) as Out, "graph-grant");
    expect(grant.changes.every((c) => c.action === "delete")).toBe(true);
  });
});

describe("agent precondition", () => {
  it("names each failing agent with what to change (exit 5)", async () => {
    const run = await runAeg(["agents", "check", "--config", badAgentsConfig], { cwd: tenant.cwd });
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/research \(contoso_researchAgent\): authentication is Generic OAuth2/);
    expect(run.stderr).toMatch(/open-helper \(contoso_openHelper\): "Require users to sign in" is off/);
    expect(run.stderr).toMatch(/kb \(contoso_kbAssistant\): ok/);
  });

  it("offline form checks the given values", async () => {
    expect((await runAeg(["agents", "check", "--authentication-mode", "Integrated", "--require-sign-in"], { cwd: tenant.cwd })).code).toBe(0);
    expect((await runAeg(["agents", "check", "--authentication-mode", "Integrated"], { cwd: tenant.cwd })).code).toBe(5);
  });
});
