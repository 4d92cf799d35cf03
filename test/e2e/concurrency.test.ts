// Issue 13's "done means": setup writes concurrently within APIM's rules (the sandbox counts the
// writes it had in flight at once; nothing here reads a clock), converges with APIM's 409 on
// overlapping writes switched on, and APIM's transient refusals are retried, then explained.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { LatencyModel, SandboxOptions, WriteKind } from "../../sandbox/index.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";
const APIM_409 = { error: { code: "PessimisticConcurrencyConflict", message: "Operation on the API is in progress", details: null } };
const APIM_CHILDREN: WriteKind[] = ["apimNamedValue", "apimPolicyFragment", "apimApi", "apimApiOperation", "apimApiPolicy", "apimApiOperationPolicy", "apimLogger"];
/** Every APIM write answered after 400 ms, everything else at once (issue 13's measurement). */
const APIM_WRITES_400: LatencyModel = { readMs: 0, writeMs: 0, writes: Object.fromEntries(APIM_CHILDREN.map((k) => [k, { ms: 400 }])) };

interface Counts {
  writes: number;
  maxConcurrentApimWrites: number;
  apiConflicts: number;
}

async function counts(tenant: TestTenant): Promise<Counts> {
  return (await fetch(`${tenant.sandbox.arm}/_sandbox/requests`)).json() as Promise<Counts>;
}

/** The tenant's configuration with `n` agents. */
async function withAgents(tenant: TestTenant, n: number): Promise<string> {
  const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, unknown>;
  const agents = [...Array(n).keys()].map((i) => ({ id: `agent-${String(i).padStart(2, "0")}`, audienceGroupId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}` }));
  const file = path.join(tenant.cwd, `agents-${n}.yaml`);
  await writeFile(file, stringify({ ...config, agents }));
  return file;
}

// The two models run side by side: each run mostly waits out the sandbox's 400 ms, so together
// they take the time of one.
describe.concurrent("a fresh setup of 40 agents", () => {
  it.for<[string, Partial<SandboxOptions>]>([
    ["each APIM write taking 400 ms", {}],
    // The settle outlasts the gap between two writes aeg makes one after the other under the API.
    ["and APIM's 409 on overlapping writes under one API", { apiLocks: true, apiLockSettleMs: 150 }],
  ])("%s: writes to APIM concurrently, never more at once than the bound, completes, and converges (a second run writes nothing, doctor 0)", async ([, model]) => {
    const tenant = await testTenant({ apimActivationMs: 200, latency: APIM_WRITES_400, ...model });
    try {
      const config = await withAgents(tenant, 40);
      const run = await runAeg(["setup", "--skip-validation", "--config", config, "--ci", "--json"], { cwd: tenant.cwd, env: { AEG_MAX_PARALLEL_WRITES: "6" } });
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const seen = await counts(tenant);
      expect(seen.maxConcurrentApimWrites).toBeGreaterThanOrEqual(4);
      expect(seen.maxConcurrentApimWrites).toBeLessThanOrEqual(6);
      if (model.apiLocks) expect(seen.apiConflicts).toBeGreaterThan(0);
      else expect(seen.apiConflicts).toBe(0);

      await tenant.resetCounters();
      const again = await runAeg(["setup", "--skip-validation", "--config", config, "--ci", "--json"], { cwd: tenant.cwd });
      expect(again.code).toBe(0);
      expect((JSON.parse(again.stdout) as { arm: { writes: number } }).arm.writes).toBe(0);
      expect(await tenant.armWrites()).toBe(0);
      expect((await runAeg(["doctor", "--config", config, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
    } finally {
      await tenant.close();
    }
    await assertTrafficConformsToSpecs(tenant.trafficFile);
  });
});

describe("APIM's 409 PessimisticConcurrencyConflict on an operation policy", () => {
  let tenant: TestTenant;
  const aeg = (...args: string[]) => runAeg([...args, "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
  const fault = (body: unknown) =>
    fetch(`${tenant.sandbox.arm}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const onOperationPolicy = { match: { method: "PUT", pathRegex: "/apis/[^/]+/operations/[^/]+/policies/policy$" }, status: 409, body: APIM_409 };

  beforeAll(async () => {
    tenant = await testTenant();
  });

  afterAll(async () => {
    await tenant.close();
    await assertTrafficConformsToSpecs(tenant.trafficFile);
  });

  it("answered twice, is retried and setup succeeds", async () => {
    expect((await fault({ ...onOperationPolicy, times: 2 })).status).toBe(201);
    const run = await aeg("setup", "--skip-validation", "--json");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "applied" });
    expect(((await (await fetch(`${tenant.sandbox.arm}/_sandbox/faults`)).json()) as { value: unknown[] }).value).toEqual([]);
  });

  it("answered every time, fails with exit 1 naming the code, the retries and what to do; with it gone, a re-run converges", async () => {
    await tenant.apim.apiOperationPolicy.delete(RG, SVC, "aeg-gateway", "contoso-hr-helper", "policy", "*");
    await fault(onOperationPolicy);
    const refused = await aeg("setup", "--skip-validation");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/409 PessimisticConcurrencyConflict and still did after 8 retries: Operation on the API is in progress/);
    expect(refused.stderr).toMatch(/wait for it to finish, then run aeg setup again/);
    expect(refused.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);

    await fetch(`${tenant.sandbox.arm}/_sandbox/faults`, { method: "DELETE" });
    expect((await aeg("setup", "--skip-validation")).code).toBe(0);
    expect((await aeg("doctor")).code).toBe(0);
  });
});
