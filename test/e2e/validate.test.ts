// aeg validate (seed step 7) against a sandbox tenant: every scenario passes on a fresh gateway,
// a JUnit file is written, and validation fails with exit 5 and a clear line when the gateway's
// answer differs from the contract or a decision record never arrives.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { XMLParser } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, spawnAeg, testTenant, waitFor, type TestTenant } from "../support/cli.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";
let tenant: TestTenant;
let config: string;
const aeg = (...args: string[]) => runAeg([...args, "--config", config], { cwd: tenant.cwd });

interface Result {
  name: string;
  passed: boolean;
  problems: string[];
  actual: { records: number };
}

beforeAll(async () => {
  tenant = await testTenant();
  const raw = parse(await readFile(tenant.configFile, "utf8")) as Record<string, unknown>;
  config = path.join(tenant.cwd, "validate.yaml");
  await writeFile(config, stringify({ ...raw, validation: { deadlineSeconds: 5 } }));
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("aeg validate", () => {
  it("setup ends by validating, and every scenario of the sandbox plan passes", async () => {
    const setup = await aeg("setup", "--ci", "--json");
    expect(setup.code).toBe(0);
    const out = JSON.parse(setup.stdout) as { status: string; validation: { passed: boolean; scenarios: Result[] } };
    expect(out.status).toBe("applied");
    expect(out.validation.passed).toBe(true);
    expect(out.validation.scenarios.length).toBeGreaterThanOrEqual(20);
    expect(out.validation.scenarios.every((s) => s.actual.records === 1)).toBe(true);
  });

  it("writes a valid JUnit file for pipelines", async () => {
    const junit = path.join(tenant.cwd, "out.xml");
    const run = await aeg("validate", "--ci", "--junit", junit);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Validation: (\d+) of \1 scenarios passed\./);
    const xml = new XMLParser({ ignoreAttributes: false }).parse(await readFile(junit, "utf8"));
    const suite = xml.testsuites.testsuite;
    expect(Number(suite["@_tests"])).toBeGreaterThanOrEqual(20);
    expect(Number(suite["@_failures"])).toBe(0);
    expect(suite.testcase).toHaveLength(Number(suite["@_tests"]));
  });

  it("fails with exit 5 when a stored fragment is tampered with (the billing label leaks as denyReason)", async () => {
    const fragment = await tenant.apim.policyFragment.get(RG, SVC, "aeg-eligibility-check", { format: "xml" });
    const tampered = fragment.value!.replace(/value="NotInEligibleCohort"/g, 'value="No eligible cohort"');
    expect(tampered).not.toBe(fragment.value);
    await tenant.apim.policyFragment.beginCreateOrUpdateAndWait(RG, SVC, "aeg-eligibility-check", { value: tampered, format: "xml" }, { updateIntervalInMs: 10 });
    try {
      const run = await aeg("validate", "--ci", "--json");
      expect(run.code).toBe(5);
      const failed = (JSON.parse(run.stdout) as { scenarios: Result[] }).scenarios.filter((s) => !s.passed);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed[0]!.problems).toContain("denyReason No eligible cohort, expected NotInEligibleCohort");
      const human = await aeg("validate", "--ci");
      expect(human.code).toBe(5);
      expect(human.stdout).toMatch(/✘ .*\n {4}denyReason No eligible cohort, expected NotInEligibleCohort/);
    } finally {
      await tenant.apim.policyFragment.beginCreateOrUpdateAndWait(RG, SVC, "aeg-eligibility-check", { value: fragment.value!, format: "xml" }, { updateIntervalInMs: 10 });
    }
  });

  it("fails with exit 5 when decision records never arrive (the gateway lost its Data Sender role)", async () => {
    const { AuthorizationManagementClient } = await import("@azure/arm-authorization");
    const { ClientSecretCredential } = await import("@azure/identity");
    const sb = tenant.sandbox;
    const auth = new AuthorizationManagementClient(new ClientSecretCredential(sb.tenantId, sb.clientId, sb.clientSecret, { authorityHost: sb.authority, disableInstanceDiscovery: true }), sb.subscriptionId, {
      endpoint: sb.arm,
      credentialScopes: ["https://management.azure.com/.default"],
    });
    const hub = `/subscriptions/${sb.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.EventHub/namespaces/ehns-aeg-sandbox/eventhubs/aeg-decisions`;
    const removed = [];
    for await (const a of auth.roleAssignments.listForScope(hub)) {
      if (a.roleDefinitionId?.endsWith("2b629674-e913-4c01-ae53-ef4638d8f975")) {
        await auth.roleAssignments.deleteById(a.id!);
        removed.push(a);
      }
    }
    expect(removed).toHaveLength(1);
    const run = await aeg("validate", "--ci");
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/0 decision records with this correlation id in the Event Hub, expected exactly one/);
    // Setup puts the role back and validation passes again.
    const repaired = await aeg("setup", "--ci");
    expect(repaired.code).toBe(0);
    expect(repaired.stderr).toMatch(/Validation: (\d+) of \1 scenarios passed/);
  });
});

describe("with the decision log on", () => {
  it("validation also requires each record in fsi_aegdecisionlog: fails (exit 5) with no sink, passes with aeg sink running", async () => {
    const raw = parse(await readFile(config, "utf8")) as Record<string, any>;
    const withLog = path.join(tenant.cwd, "decision-log.yaml");
    await writeFile(withLog, stringify({ ...raw, dataverse: { ...raw.dataverse, decisionLog: { enabled: true } } }));
    const run = (...args: string[]) => runAeg([...args, "--config", withLog], { cwd: tenant.cwd });
    expect((await run("setup", "--ci", "--skip-validation")).code).toBe(0);

    const stopped = await run("validate", "--ci");
    expect(stopped.code).toBe(5);
    expect(stopped.stdout).toContain("0 rows with this correlation id in fsi_aegdecisionlog, expected exactly one (is aeg sink running?)");

    const sink = spawnAeg(["sink", "--config", withLog], { cwd: tenant.cwd });
    const sinkExit = new Promise<number | null>((resolve) => sink.on("close", resolve));
    try {
      const landed = await run("validate", "--ci", "--json");
      expect(landed.code).toBe(0);
      const scenarios = (JSON.parse(landed.stdout) as { scenarios: Array<{ actual: { sinkRows?: number } }> }).scenarios;
      expect(scenarios.every((s) => s.actual.sinkRows === 1)).toBe(true);
    } finally {
      sink.kill("SIGTERM");
    }
    expect(await sinkExit).toBe(0);
  });

  it("with a sink reading (epoch) on its default group validate passes beside it; a sink on validate's group makes validate exit 2 naming validation.consumerGroup", async () => {
    const withLog = path.join(tenant.cwd, "decision-log.yaml");
    const run = (...args: string[]) => runAeg([...args, "--config", withLog], { cwd: tenant.cwd });
    /** A sink that has attached to every partition, so its epoch is in force before validate reads. */
    const reading = async (...extra: string[]) => {
      const child = spawnAeg(["sink", "--config", withLog, ...extra], { cwd: tenant.cwd });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const exit = new Promise<number | null>((resolve) => child.on("close", resolve));
      await waitFor(() => (new Set([...stderr.matchAll(/partition (\d+): reading/g)].map((m) => m[1])).size === 4 ? true : undefined), "the sink to read every partition");
      return { exit, stderr: () => stderr, stop: () => (child.kill("SIGTERM"), exit) };
    };

    const own = await reading();
    try {
      expect(own.stderr()).toMatch(/\(aeg-sink\)/);
      const beside = await run("validate", "--ci");
      expect(beside.code, beside.stdout + beside.stderr).toBe(0);
    } finally {
      expect(await own.stop(), own.stderr()).toBe(0);
    }

    // Validate's own group ($Default) taken by a sink with an epoch: Event Hubs refuses validate.
    const onDefault = await reading("--consumer-group", "$Default", "--checkpoint-dir", path.join(tenant.cwd, "sink-on-default"));
    try {
      const refused = await run("validate", "--ci");
      expect(refused.code, refused.stdout + refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(/validation\.consumerGroup: Event Hubs refuses validate on '\$Default' while an event processor \(aeg sink\?\) reads it with an epoch/);
      expect(refused.stderr).toMatch(/another consumer group than the sink's/);
      expect(refused.stderr).not.toMatch(/unexpected error|^\s+at /m);
    } finally {
      expect(await onDefault.stop(), onDefault.stderr()).toBe(0);
    }
  });
});
