import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { repoRoot, runAeg, testTenant, type TestTenant } from "../support/cli.js";

let tenant: TestTenant;

beforeAll(async () => {
  tenant = await testTenant();
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

async function variant(name: string, change: (config: Record<string, any>) => void): Promise<string> {
  const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
  change(config);
  const file = path.join(tenant.cwd, name);
  await writeFile(file, stringify(config));
  return file;
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);

describe("bad input gets a clear answer", () => {
  it("a bad configuration exits 2 with one line per problem and its field path", async () => {
    const file = await variant("bad.yaml", (c) => {
      c.agents[1].audienceGroupId = "not-a-guid";
      c.apim.publisherEmail = "nobody";
    });
    const run = await runAeg(["setup", "--skip-validation", "--config", file, "--ci"], { cwd: tenant.cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("agents[1].audienceGroupId: not a GUID");
    expect(run.stderr).toContain("apim.publisherEmail: not an email address");
    noStack(run.stderr);
  });

  it("a missing configuration file exits 2 and says what to do", async () => {
    const run = await runAeg(["doctor", "--config", "nowhere.yaml"], { cwd: tenant.cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/nowhere\.yaml: not found/);
  });

  it("an unknown flag exits 2", async () => {
    const run = await runAeg(["setup", "--skip-validation", "--no-such-flag"], { cwd: tenant.cwd });
    expect(run.code).toBe(2);
    noStack(run.stderr);
  });

  it("a broken template stops the run with exit 2 before any write", async () => {
    const dir = path.join(tenant.cwd, "my-templates");
    await cp(path.join(repoRoot, "templates"), dir, { recursive: true });
    const fragment = path.join(dir, "fragments", "aeg-eligibility-check.xml");
    await writeFile(fragment, (await readFile(fragment, "utf8")).replace("{{aeg-channel}}", "{{aeg-chanel}}"));
    const file = await variant("custom-templates.yaml", (c) => {
      c.templatesDir = dir;
    });
    await tenant.resetCounters();
    const run = await runAeg(["setup", "--skip-validation", "--config", file, "--ci"], { cwd: tenant.cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("templates/fragments/aeg-eligibility-check.xml: {{aeg-chanel}} names a named value that is not defined");
    expect(run.stderr).toMatch(/nothing was written/);
    expect(await tenant.armWrites()).toBe(0);
  });

  it("a caller without rights is stopped by the preflight with exit 3 before any write, and --json carries it", async () => {
    const secretFile = path.join(tenant.cwd, "reader.secret");
    await writeFile(secretFile, tenant.sandbox.readerClientSecret, { mode: 0o600 });
    const file = await variant("reader.yaml", (c) => {
      c.auth = { clientId: tenant.sandbox.readerClientId, clientSecretFile: secretFile };
    });
    const run = await runAeg(["setup", "--skip-validation", "--config", file, "--ci"], { cwd: tenant.cwd });
    expect(run.code).toBe(3);
    // The identity preflight (steps 5 and 8) runs before any write, ARM's included.
    expect(run.stderr).toMatch(/not a System Administrator of .*nothing was written/);
    expect(run.stderr).toMatch(/Dataverse System Administrator/);
    noStack(run.stderr);
    const asJson = await runAeg(["setup", "--skip-validation", "--config", file, "--ci", "--json"], { cwd: tenant.cwd });
    expect(asJson.code).toBe(3);
    const out = JSON.parse(asJson.stdout);
    expect(out.exitCode).toBe(3);
    expect(JSON.stringify(out)).not.toContain(tenant.sandbox.readerClientSecret);
  });

  it("a 403 from ARM on a write exits 3 naming the role the step needs, and nothing half-done is hidden", async () => {
    // Azure refuses the resource group write, as it does for a principal without Contributor.
    const fault = (body: unknown) => fetch(`${tenant.sandbox.arm}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    await fault({
      match: { method: "PUT", pathRegex: "/resourcegroups/[^/]+$" },
      status: 403,
      body: { error: { code: "AuthorizationFailed", message: "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourcegroups/write'." } },
    });
    try {
      const run = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
      expect(run.code).toBe(3);
      expect(run.stderr).toMatch(/resource-group: permission denied \(403 AuthorizationFailed\)/);
      expect(run.stderr).toMatch(/This step needs Contributor on the subscription/);
      expect(run.stderr).toMatch(/then run `aeg setup .*` to continue/);
      noStack(run.stderr);
    } finally {
      await fetch(`${tenant.sandbox.arm}/_sandbox/faults`, { method: "DELETE" });
    }
  });

  it("a soft-deleted service of the same name needs an explicit choice, then recovers", async () => {
    expect((await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
    await tenant.apim.apiManagementService.beginDeleteAndWait("rg-aeg-sandbox", "apim-aeg-sandbox", { updateIntervalInMs: 10 });

    const plan = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--dry-run", "--ci"], { cwd: tenant.cwd });
    expect(plan.code).toBe(0);
    expect(plan.stderr).toMatch(/soft-deleted service of this name exists/);

    const blocked = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toMatch(/--recover-soft-deleted/);
    expect(blocked.stderr).toMatch(/--purge-soft-deleted/);

    const recovered = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci", "--recover-soft-deleted"], { cwd: tenant.cwd });
    expect(recovered.code).toBe(0);
    expect((await runAeg(["doctor", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd })).code).toBe(0);

    await tenant.apim.apiManagementService.beginDeleteAndWait("rg-aeg-sandbox", "apim-aeg-sandbox", { updateIntervalInMs: 10 });
    const purged = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci", "--purge-soft-deleted"], { cwd: tenant.cwd });
    expect(purged.code).toBe(0);
    expect((await runAeg(["doctor", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
  });
});
