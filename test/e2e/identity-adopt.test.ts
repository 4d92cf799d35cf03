// An application user that someone else created for the gateway's identity, before aeg ever ran
// step 5, is adopted: aeg finds it by the identity's appId and creates no second one.
import { afterAll, beforeAll, expect, it } from "vitest";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";
let tenant: TestTenant;

async function token(scope: string): Promise<string> {
  const sb = tenant.sandbox;
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function call(url: string, scope: string, method: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${await token(scope)}`, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

beforeAll(async () => {
  tenant = await testTenant();
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

it("adopts an application user created by someone else, and creates no duplicate", async () => {
  const sb = tenant.sandbox;
  // Someone stood up the instance by hand...
  const rg = await call(`${sb.arm}/subscriptions/${sb.subscriptionId}/resourcegroups/${RG}?api-version=2025-04-01`, "https://management.azure.com/.default", "PUT", { location: "westeurope" });
  expect(rg.status).toBe(201);
  const service = await tenant.apim.apiManagementService.beginCreateOrUpdateAndWait(
    RG,
    SVC,
    { location: "westeurope", sku: { name: "Developer", capacity: 1 }, identity: { type: "SystemAssigned" }, publisherName: "AEG Sandbox", publisherEmail: "governance@example.com" },
    { updateIntervalInMs: 50 },
  );
  // ...and the application user for its identity, by appId, in the root business unit.
  const sp = await call(`${sb.graph}/v1.0/servicePrincipals/${service.identity!.principalId}`, "https://graph.microsoft.com/.default", "GET");
  expect(sp.json.appId).not.toBe(service.identity!.principalId);
  const dv = `${sb.dataverse}/api/data/v9.2`;
  const scope = `${sb.dataverse}/.default`;
  const root = (await call(`${dv}/businessunits?$select=businessunitid&$filter=_parentbusinessunitid_value eq null`, scope, "GET")).json.value[0].businessunitid;
  const created = await call(`${dv}/systemusers`, scope, "POST", { applicationid: sp.json.appId, "businessunitid@odata.bind": `/businessunits(${root})`, firstname: "#", lastname: "made by hand" });
  expect(created.status).toBe(204);

  const setup = await runAeg(["setup", "--config", tenant.configFile, "--ci", "--json", "--skip-validation"], { cwd: tenant.cwd });
  expect(setup.code).toBe(0);
  const out = JSON.parse(setup.stdout) as { steps: Array<{ id: string; changes: Array<{ action: string; resource: string }> }> };
  const access = out.steps.find((s) => s.id === "dataverse-access")!;
  const userChange = access.changes.find((c) => /systemusers|applicationUser|application user/i.test(c.resource))!;
  expect(userChange.action).toBe("ok"); // found by appId: nothing to create

  const users = (await call(`${dv}/systemusers?$select=systemuserid,lastname&$filter=applicationid eq ${sp.json.appId}`, scope, "GET")).json.value;
  expect(users).toHaveLength(1);
  expect(users[0].lastname).toBe("made by hand");
  expect((await runAeg(["doctor", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
});
