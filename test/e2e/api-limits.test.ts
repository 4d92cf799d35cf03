// Issue 13.6: APIM's limits known before the first write, and agents spread over more APIs than
// one when one API cannot hold them (src/steps/api-shards.ts), with every agent still answering.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { clients } from "../support/sandbox.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";
let tenant: TestTenant;

/**
 * The sandbox configuration with `n` filler agents between its own two: contoso-kb-assistant stays
 * first (the persona plan's main agent) and contoso-hr-helper comes last.
 */
async function withFillers(n: number, name: string, patch: (raw: Record<string, any>) => void = () => {}): Promise<string> {
  const raw = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
  const fillers = [...Array(n).keys()].map((i) => ({ id: `filler-${String(i).padStart(4, "0")}`, audienceGroupId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}` }));
  raw.agents = [raw.agents[0], ...fillers, ...raw.agents.slice(1)];
  raw.validation = { deadlineSeconds: 10 };
  patch(raw);
  const file = path.join(tenant.cwd, name);
  await writeFile(file, stringify(raw));
  return file;
}

beforeAll(async () => {
  tenant = await testTenant({ apimActivationMs: 200 });
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("APIM's limits, before the first write", () => {
  it("more agents than the tier's named values hold: setup stops with exit 2 and one line naming the limit, and writes nothing", async () => {
    const config = await withFillers(2_500, "too-many.yaml");
    await tenant.resetCounters();
    const run = await runAeg(["setup", "--config", config, "--ci"], { cwd: tenant.cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/agents: 2502 agents need \d+ named values .*the Developer tier of API Management holds 5000 per instance: at most \d+ agents fit/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await tenant.armWrites()).toBe(0);
  });
});

describe("101 agents: one API holds 100, the 101st goes to a second", () => {
  let config: string;

  beforeAll(async () => {
    config = await withFillers(99, "spread.yaml");
  });

  // contoso-hr-helper, the 101st, is in the second API: the persona plan's "agent non-compliant"
  // scenario calls it there and expects its 403, not the 404 of a wrong URL.
  it("setup makes two APIs, and validation reaches the agent in the second one through its URL", async () => {
    const run = await runAeg(["setup", "--config", config, "--ci", "--json"], { cwd: tenant.cwd });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { status: string; validation: { passed: boolean } };
    expect(out.validation.passed).toBe(true);
    const { apim } = clients(tenant.sandbox);
    const count = async (api: string) => {
      let n = 0;
      for await (const _ of apim.apiOperation.listByApi(RG, SVC, api)) n++;
      return n;
    };
    expect([await count("aeg-gateway"), await count("aeg-gateway-2")]).toEqual([100, 1]);
    const second = await apim.api.get(RG, SVC, "aeg-gateway-2");
    expect(second.path).toBe("agents-2");
    expect((await apim.apiOperation.get(RG, SVC, "aeg-gateway-2", "contoso-hr-helper")).urlTemplate).toBe("/contoso-hr-helper");
  });

  it("converges: a second run writes nothing and doctor finds nothing to do", async () => {
    await tenant.resetCounters();
    const again = await runAeg(["setup", "--skip-validation", "--config", config, "--ci", "--json"], { cwd: tenant.cwd });
    expect(again.code).toBe(0);
    expect(await tenant.armWrites()).toBe(0);
    expect((await runAeg(["doctor", "--config", config, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
  });

  it("a retired agent's place is taken by a new one; the agent in the second API keeps its URL", async () => {
    const next = await withFillers(99, "next.yaml", (raw) => {
      raw.agents = raw.agents.filter((a: { id: string }) => a.id !== "filler-0007");
      raw.agents.push({ id: "newcomer", audienceGroupId: "00000000-0000-4000-8000-999999999999" });
    });
    const run = await runAeg(["setup", "--skip-validation", "--config", next, "--ci"], { cwd: tenant.cwd });
    expect(run.code).toBe(0);
    const { apim } = clients(tenant.sandbox);
    const names = async (api: string) => {
      const out: string[] = [];
      for await (const op of apim.apiOperation.listByApi(RG, SVC, api)) out.push(op.name!);
      return out;
    };
    const first = await names("aeg-gateway");
    expect(first).toContain("newcomer");
    expect(first).not.toContain("filler-0007");
    expect(await names("aeg-gateway-2")).toEqual(["contoso-hr-helper"]);
  });
});
