// Permissions checked before any write: an identity that is Contributor on the subscription and
// nothing else cannot assign the Data Sender role, and is told so before anything is written.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { readFile } from "node:fs/promises";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";

let tenant: TestTenant;
let contributorConfig: string;
const aeg = (...args: string[]) => runAeg(args, { cwd: tenant.cwd });
const ROLE_WRITE = "Microsoft.Authorization/roleAssignments/write";

beforeAll(async () => {
  tenant = await testTenant();
  const secret = path.join(tenant.cwd, "contributor.secret");
  await writeFile(secret, tenant.sandbox.contributorClientSecret, { mode: 0o600 });
  const raw = parse(await readFile(tenant.configFile, "utf8"));
  raw.auth = { clientId: tenant.sandbox.contributorClientId, clientSecretFile: secret };
  contributorConfig = path.join(tenant.cwd, "contributor.yaml");
  await writeFile(contributorConfig, stringify(raw));
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("permissions checked before any write", () => {
  it("--dry-run and plan show what is missing without failing", async () => {
    const dry = await aeg("setup", "--config", contributorConfig, "--dry-run", "--ci", "--skip-validation");
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain(`Missing permission: telemetry: ${ROLE_WRITE}`);
    const plan = await aeg("plan", "--config", contributorConfig, "--out", "contributor-plan.json", "--ci", "--json");
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).missingPermissions).toEqual([expect.objectContaining({ step: "telemetry", action: ROLE_WRITE, scope: expect.stringMatching(/\/eventhubs\/aeg-decisions$/) })]);
  });

  it("a Contributor-only identity is stopped with exit 3 naming the action, its scope and a role, and nothing is written", async () => {
    await tenant.resetCounters();
    const run = await aeg("setup", "--config", contributorConfig, "--ci", "--skip-validation");
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`${ROLE_WRITE.replace(/\//g, "\\/")} at /subscriptions/.+/eventhubs/aeg-decisions`));
    expect(run.stderr).toMatch(/User Access Administrator|Owner/);
    expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    const apply = await aeg("apply", "contributor-plan.json", "--ci");
    expect(apply.code).toBe(3);
    expect(apply.stderr).toContain(ROLE_WRITE);
    expect(await tenant.armWrites()).toBe(0);
  });

  it("the operator passes the same check and sets up", async () => {
    const run = await aeg("setup", "--config", tenant.configFile, "--ci", "--skip-validation");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain("Missing permission");
  });
});
