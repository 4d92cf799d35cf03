// aeg teardown end to end: the built CLI against a sandbox tenant that setup built first.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { repoRoot, runAeg, spawnAeg, testTenant, waitFor, type TestTenant } from "../support/cli.js";
import { Pty } from "../support/pty.js";
import { clients } from "../support/sandbox.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";
const DV = "/api/data/v9.2";

let tenant: TestTenant;
let appId: string;

type Out = { status: string; exitCode: number; changes: { planned: number; applied: number }; leftInPlace: string[]; steps: Array<{ id: string; status: string; changes: Array<{ action: string; resource: string }> }>; arm: { writes: number } };
const aeg = (...args: string[]) => runAeg([...args, "--config", tenant.configFile], { cwd: tenant.cwd });
const teardown = (...args: string[]) => aeg("teardown", "--ci", ...args);

async function token(scope: string): Promise<string> {
  const { sandbox: sb } = tenant;
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope }) });
  return ((await res.json()) as { access_token: string }).access_token;
}
async function get(base: string, scope: string, p: string): Promise<any> {
  const res = await fetch(`${base}${p}`, { headers: { authorization: `Bearer ${await token(scope)}` } });
  if (res.status >= 400) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}
const dv = (p: string) => get(tenant.sandbox.dataverse, `${tenant.sandbox.dataverse}/.default`, `${DV}${p}`);
const graph = (p: string) => get(tenant.sandbox.graph, "https://graph.microsoft.com/.default", `/v1.0${p}`);

/** Every request the tenant served since the last reset: ARM, Dataverse and Graph. */
async function requestsServed(): Promise<number> {
  const arm = (await (await fetch(`${tenant.sandbox.arm}/_sandbox/requests`)).json()) as { total: number };
  const identity = await Promise.all([tenant.sandbox.dataverse, tenant.sandbox.graph].map(async (b) => (await (await fetch(`${b}/_sandbox/identity/requests`)).json()) as { reads: number; writes: number }));
  return arm.total + identity.reduce((n, c) => n + c.reads + c.writes, 0);
}
async function resetRequests(): Promise<void> {
  await tenant.resetCounters();
  await Promise.all([tenant.sandbox.dataverse, tenant.sandbox.graph].map((b) => fetch(`${b}/_sandbox/identity/requests/reset`, { method: "POST" })));
}

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404;
  }
}

async function count<T>(items: AsyncIterable<T>): Promise<number> {
  let n = 0;
  for await (const _ of items) n++;
  return n;
}

/** Nothing of the gateway left: no instance live or soft-deleted, no Data Sender, the user disabled without roles. */
async function expectNothingLeft(): Promise<void> {
  const arm = clients(tenant.sandbox);
  expect(await gone(() => tenant.apim.apiManagementService.get(RG, SVC))).toBe(true);
  expect(await gone(() => tenant.apim.deletedServices.getByName(SVC, "westeurope"))).toBe(true);
  const senders = [];
  for await (const a of arm.authorization.roleAssignments.listForResourceGroup(RG)) if (a.roleDefinitionId?.endsWith("/2b629674-e913-4c01-ae53-ef4638d8f975")) senders.push(a);
  expect(senders).toEqual([]);
  expect(await gone(() => arm.eventHub.namespaces.get(RG, "ehns-aeg-sandbox"))).toBe(true);
  const [user] = (await dv(`/systemusers?$filter=applicationid eq ${appId}`)).value;
  expect(user.isdisabled).toBe(true);
  expect((await dv(`/systemusers(${user.systemuserid})/systemuserroles_association`)).value).toEqual([]);
  expect((await dv(`/roles?$filter=name eq 'AEG Gateway Reader'`)).value).toEqual([]);
  // The resource group stays.
  expect((await arm.resources.resourceGroups.get(RG)).name).toBe(RG);
}

beforeAll(async () => {
  tenant = await testTenant();
  expect((await aeg("setup", "--skip-validation", "--ci")).code).toBe(0);
  const principalId = (await tenant.apim.apiManagementService.get(RG, SVC)).identity!.principalId!;
  appId = (await graph(`/servicePrincipals/${principalId}`)).appId;
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("aeg teardown", () => {
  it.each([
    ["without --confirm", [], /pass --confirm apim-aeg-sandbox/],
    ["with another name", ["--confirm", "apim-prod"], /--confirm 'apim-prod' is not the configured APIM instance 'apim-aeg-sandbox'/],
  ])("%s: exit 2, nothing read beyond the configuration, nothing deleted", async (_name, args, message) => {
    await resetRequests();
    const run = await teardown(...(args as string[]), "--purge");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/Nothing was read beyond the configuration, and nothing was removed/);
    expect(await requestsServed()).toBe(0);
    const json = await teardown(...(args as string[]), "--json");
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ command: "teardown", status: "error", exitCode: 2 });
    expect(await requestsServed()).toBe(0);
    expect((await tenant.apim.apiManagementService.get(RG, SVC)).provisioningState).toBe("Succeeded");
  });

  it("--dry-run shows what would go, and removes nothing", async () => {
    await resetRequests();
    const run = await teardown("--confirm", SVC, "--dry-run", "--json");
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as Out;
    expect(out.status).toBe("changes-planned");
    expect(out.steps.find((s) => s.id === "remove-apim")!.changes[0]).toMatchObject({ action: "delete", resource: `service/${SVC}` });
    expect(await tenant.armWrites()).toBe(0);
  });

  it("an identity that may not delete the Data Sender assignment is stopped with exit 3 before any delete", async () => {
    const secret = path.join(tenant.cwd, "contributor.secret");
    await writeFile(secret, tenant.sandbox.contributorClientSecret, { mode: 0o600 });
    const contributor = path.join(tenant.cwd, "contributor.yaml");
    await writeFile(contributor, stringify({ ...parse(await readFile(tenant.configFile, "utf8")), auth: { clientId: tenant.sandbox.contributorClientId, clientSecretFile: secret } }));
    const dry = await runAeg(["teardown", "--ci", "--confirm", SVC, "--config", contributor, "--dry-run"], { cwd: tenant.cwd });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain("Missing permission: remove-data-sender: Microsoft.Authorization/roleAssignments/delete");
    await resetRequests();
    const run = await runAeg(["teardown", "--ci", "--confirm", SVC, "--config", contributor], { cwd: tenant.cwd });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/roleAssignments\/delete at \/subscriptions\/.+\/eventhubs\/aeg-decisions \(granted by User Access Administrator\)/);
    expect(await tenant.armWrites()).toBe(0);
  });

  it("in a terminal it shows the plan and asks once; declining removes nothing", async () => {
    await tenant.resetCounters();
    const pty = Pty.spawn([process.execPath, path.join(repoRoot, "bin", "run.js"), "teardown", "--confirm", SVC, "--config", tenant.configFile], { cwd: tenant.cwd, env: { ...process.env, NO_COLOR: "1" } });
    try {
      await pty.expect(/- service\/apim-aeg-sandbox/);
      await pty.expect(/Remove these from apim-aeg-sandbox\?/);
      pty.type("n\r");
      await pty.expect(/Nothing was removed\./);
      expect(await pty.exited).toBe(0);
    } finally {
      pty.kill();
    }
    expect(await tenant.armWrites()).toBe(0);
  });

  it("--purge leaves no instance, no soft-deleted one, no Data Sender, and the application user disabled without roles", async () => {
    const run = await teardown("--confirm", SVC, "--purge", "--json");
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as Out;
    expect(out.status).toBe("torn-down");
    expect(out.changes.applied).toBe(out.changes.planned);
    expect(out.steps.every((s) => ["deleted", "updated", "ok"].includes(s.status))).toBe(true);
    expect(out.leftInPlace.join("\n")).toMatch(/resource group rg-aeg-sandbox[\s\S]*application user .* disabled and without roles/);
    await expectNothingLeft();
  });

  it("a second teardown has nothing to do (exit 0, no write)", async () => {
    await tenant.resetCounters();
    const run = await teardown("--confirm", SVC, "--purge");
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/Nothing to tear down/);
    expect(await tenant.armWrites()).toBe(0);
  });

  it("setup afterwards builds everything again", async () => {
    expect((await aeg("setup", "--skip-validation", "--ci")).code).toBe(0);
    expect((await aeg("doctor", "--ci")).code).toBe(0);
    appId = (await graph(`/servicePrincipals/${(await tenant.apim.apiManagementService.get(RG, SVC)).identity!.principalId}`)).appId;
  });

  it("killed with kill -9 midway, a second run finishes; without --purge the instance is soft-deleted, and a later --purge frees it", async () => {
    // Hold the first fragment delete, so the kill lands after the API is gone and before the instance is.
    await fetch(`${tenant.sandbox.arm}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ match: { method: "DELETE", pathRegex: "/policyFragments/" }, delayMs: 3000, times: 1 }) });
    const child = spawnAeg(["teardown", "--ci", "--confirm", SVC, "--config", tenant.configFile], { cwd: tenant.cwd });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await waitFor(async () => ((await gone(() => tenant.apim.api.get(RG, SVC, "aeg-gateway"))) ? true : undefined), "the API to be deleted");
    child.kill("SIGKILL");
    expect(await exited).toBe(null);
    expect((await tenant.apim.apiManagementService.get(RG, SVC)).provisioningState).toBe("Succeeded");

    const resumed = await teardown("--confirm", SVC, "--json");
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).status).toBe("torn-down");
    expect(await gone(() => tenant.apim.apiManagementService.get(RG, SVC))).toBe(true);
    const soft = await tenant.apim.deletedServices.getByName(SVC, "westeurope");
    expect(Date.parse(String(soft.scheduledPurgeDate)) - Date.parse(String(soft.deletionDate))).toBe(48 * 3600_000);
    expect(await count(tenant.apim.deletedServices.listBySubscription())).toBe(1);

    // Setup will not reuse the name while it is soft-deleted; teardown --purge knows the service was aeg's.
    expect((await aeg("setup", "--skip-validation", "--ci")).code).toBe(2);
    const purged = await teardown("--confirm", SVC, "--purge");
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stderr).toMatch(/deletedservices\/apim-aeg-sandbox/);
    await expectNothingLeft();
  });
});
