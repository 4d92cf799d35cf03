import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";

let tenant: TestTenant;
const aeg = (...args: string[]) => runAeg([...args, "--config", tenant.configFile], { cwd: tenant.cwd });
const json = (stdout: string) => JSON.parse(stdout) as { status: string; exitCode: number; changes: { planned: number; applied: number }; arm: { writes: number }; steps: Array<{ id: string; status: string; changes: Array<{ action: string; resource: string; fields: Array<Record<string, unknown>> }> }> };

beforeAll(async () => {
  tenant = await testTenant();
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("aeg setup against a sandbox tenant", () => {
  it("plans, applies and verifies every ARM step on a fresh tenant", async () => {
    const run = await aeg("setup", "--skip-validation", "--ci", "--json");
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const out = json(run.stdout);
    expect(out.status).toBe("applied");
    // What the plan counted is what apply wrote: 38 resources (the sink's consumer group among them) on a fresh tenant.
    expect(out.changes).toEqual({ planned: 38, applied: 38 });
    expect(out.steps.flatMap((s) => s.changes).filter((c) => ["create", "update", "delete"].includes(c.action))).toHaveLength(38);
    expect(Object.fromEntries(out.steps.map((s) => [s.id, s.status]))).toEqual({
      "resource-group": "created",
      apim: "created",
      "named-values": "created",
      telemetry: "created",
      fragments: "created",
      api: "created",
      "retired-agents": "ok",
      "decision-log": "skipped",
      "dataverse-access": "created",
      "graph-grant": "skipped",
    });
    const service = await tenant.apim.apiManagementService.get(RG, SVC);
    expect(service.identity?.type).toBe("SystemAssigned");
    expect(service.provisioningState).toBe("Succeeded");
    const fragment = await tenant.apim.policyFragment.get(RG, SVC, "aeg-eligibility-check", { format: "rawxml" });
    expect(fragment.value).toContain("log-to-eventhub");
    const opPolicy = await tenant.apim.apiOperationPolicy.get(RG, SVC, "aeg-gateway", "contoso-hr-helper", "policy", { format: "rawxml" });
    expect(opPolicy.value).toContain("{{aeg-agent-id-contoso-hr-helper}}");
    const logger = await tenant.apim.logger.get(RG, SVC, "aeg-decision-logger");
    expect(logger.credentials).toMatchObject({ identityClientId: "SystemAssigned", name: "aeg-decisions" });
  });

  it("makes zero writes on a second run", async () => {
    await tenant.resetCounters();
    const run = await aeg("setup", "--skip-validation", "--ci", "--json");
    expect(run.code).toBe(0);
    const out = json(run.stdout);
    expect(out.status).toBe("in-sync");
    expect(out.steps.every((s) => s.status === "ok" || (["graph-grant", "decision-log"].includes(s.id) && s.status === "skipped"))).toBe(true);
    expect(out.arm.writes).toBe(0);
    expect(out.changes).toEqual({ planned: 0, applied: 0 });
    expect(await tenant.armWrites()).toBe(0);
  });

  it("doctor exits 0 when in sync, in human form too", async () => {
    const run = await aeg("doctor", "--ci");
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("In sync");
  });

  it("doctor exits 4 naming what drifted after out-of-band changes, and setup repairs it", async () => {
    await tenant.apim.namedValue.beginCreateOrUpdateAndWait(RG, SVC, "aeg-policy-version", { displayName: "aeg-policy-version", value: "tampered", tags: ["aeg"] }, { updateIntervalInMs: 10 });
    const fragment = await tenant.apim.policyFragment.get(RG, SVC, "aeg-validate-jwt", { format: "rawxml" });
    await tenant.apim.policyFragment.beginCreateOrUpdateAndWait(
      RG,
      SVC,
      "aeg-validate-jwt",
      { value: fragment.value!.replace("</fragment>", '<set-header name="X-Tampered" exists-action="override"><value>1</value></set-header></fragment>'), format: "rawxml" },
      { updateIntervalInMs: 10 },
    );
    await tenant.apim.apiOperationPolicy.delete(RG, SVC, "aeg-gateway", "contoso-kb-assistant", "policy", "*");

    const doctor = await aeg("doctor", "--ci", "--json");
    expect(doctor.code).toBe(4);
    const out = json(doctor.stdout);
    expect(out.status).toBe("drift");
    const byId = Object.fromEntries(out.steps.map((s) => [s.id, s]));
    expect(byId["named-values"]!.status).toBe("update");
    expect(byId["named-values"]!.changes.find((c) => c.action === "update")).toEqual({
      action: "update",
      resource: "namedValues/aeg-policy-version",
      fields: [{ field: "value", from: "tampered", to: "2026.06.09" }],
    });
    expect(byId.fragments!.status).toBe("update");
    const diff = byId.fragments!.changes.find((c) => c.action === "update")!.fields[0]!.diff as string[];
    expect(diff.some((l) => l.startsWith("- ") && l.includes("X-Tampered"))).toBe(true);
    expect(byId.api!.changes.find((c) => c.action !== "ok")).toMatchObject({ action: "create", resource: "apis/aeg-gateway/operations/contoso-kb-assistant/policies/policy" });

    // --dry-run shows the same plan and writes nothing.
    await tenant.resetCounters();
    const dry = await aeg("setup", "--skip-validation", "--dry-run", "--ci", "--json");
    expect(dry.code).toBe(0);
    expect(json(dry.stdout).status).toBe("changes-planned");
    expect(await tenant.armWrites()).toBe(0);

    const repair = await aeg("setup", "--skip-validation", "--ci");
    expect(repair.code).toBe(0);
    expect(repair.stderr).toMatch(/Setup complete/);
    expect((await aeg("doctor", "--ci")).code).toBe(0);
  });

  it("removing an agent from the configuration retires its operation and its named values", async () => {
    const raw = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
    const one = path.join(tenant.cwd, "one-agent.yaml");
    await writeFile(one, stringify({ ...raw, agents: raw.agents.slice(0, 1) }));
    const run = await runAeg(["setup", "--skip-validation", "--config", one, "--ci", "--json"], { cwd: tenant.cwd });
    expect(run.code).toBe(0);
    const byId = Object.fromEntries(json(run.stdout).steps.map((s) => [s.id, s]));
    expect(byId.api!.changes.filter((c) => c.action === "delete").map((c) => c.resource)).toEqual(["apis/aeg-gateway/operations/contoso-hr-helper"]);
    expect(byId["retired-agents"]!.changes.map((c) => `${c.action} ${c.resource}`).sort()).toEqual([
      "delete namedValues/aeg-agent-id-contoso-hr-helper",
      "delete namedValues/aeg-audience-group-id-contoso-hr-helper",
    ]);
    expect((await runAeg(["doctor", "--config", one, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
    // Back to two agents: the original configuration is in sync again after one setup.
    expect((await aeg("setup", "--skip-validation", "--ci")).code).toBe(0);
    expect((await aeg("doctor", "--ci")).code).toBe(0);
  });
});
