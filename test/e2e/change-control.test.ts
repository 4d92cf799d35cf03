// Change control: a plan saved, reviewed, then applied exactly; stale, altered and repeated plans
// refused before any write; who planned and who applied recorded.
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";
import { SAMPLE } from "../support/seed.js";

let tenant: TestTenant;
const file = (name: string) => path.join(tenant.cwd, name);
const aeg = (...args: string[]) => runAeg(args, { cwd: tenant.cwd });
const noWrites = async () => expect(await tenant.armWrites()).toBe(0);

beforeAll(async () => {
  tenant = await testTenant();
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("aeg plan and aeg apply", () => {
  let planned: Record<string, any>;

  it("plan --out saves a sealed plan with who, when, which change, and no secret", async () => {
    const run = await aeg("plan", "--config", tenant.configFile, "--out", "plan.json", "--change-id", "CHG-1234", "--ci", "--json");
    expect(run.code, run.stderr).toBe(0);
    const envelope = JSON.parse(run.stdout);
    expect(envelope).toMatchObject({ command: "plan", status: "changes-planned", exitCode: 0, changeId: "CHG-1234", file: { digest: expect.stringMatching(/^sha256:/) } });
    const text = await readFile(file("plan.json"), "utf8");
    planned = JSON.parse(text);
    expect(planned).toMatchObject({ kind: "aeg-plan", schemaVersion: 1, changeId: "CHG-1234", environment: "default", status: "changes-planned", planner: { objectId: expect.any(String) } });
    expect(planned.steps.flatMap((s: any) => s.changes).filter((c: any) => c.action === "create").length).toBeGreaterThan(30);
    for (const secret of [tenant.sandbox.clientSecret, tenant.sandbox.readerClientSecret]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/); // no JWT
    expect(await tenant.armWrites()).toBe(0);
  });

  it("a plan file edited by hand is refused with exit 4 before any write", async () => {
    const edited = JSON.parse(JSON.stringify(planned));
    const nv = edited.steps.find((s: any) => s.id === "named-values").changes[0];
    nv.op.body.value = "attacker-controlled";
    await writeFile(file("edited.json"), JSON.stringify(edited));
    await tenant.resetCounters();
    const run = await aeg("apply", "edited.json", "--ci");
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/changed after it was made/);
    await noWrites();
  });

  it("apply carries out exactly the plan and records who planned and who applied it", async () => {
    const run = await aeg("apply", "plan.json", "--ci", "--json");
    expect(run.code, run.stderr).toBe(0);
    const envelope = JSON.parse(run.stdout);
    expect(envelope).toMatchObject({ command: "apply", status: "applied", planDigest: planned.digest, changeId: "CHG-1234", planner: planned.planner, applier: { objectId: expect.any(String) }, appliedAt: expect.any(String) });
    const journal = JSON.parse(await readFile(file(".aeg/state/default.json"), "utf8"));
    expect(journal.lastApply).toMatchObject({ planDigest: planned.digest, changeId: "CHG-1234", outcome: "applied", plannedAt: planned.createdAt });
    // What runs in APIM after the apply, for the audit report: two fragments, the API policy, two operation policies.
    expect(Object.values(journal.lastApply.policyDigests)).toEqual(Array(5).fill(expect.stringMatching(/^[0-9a-f]{64}$/)));
    expect((await aeg("doctor", "--config", tenant.configFile, "--ci")).code).toBe(0);
  });

  it("the same plan again is refused with exit 4 and no write, with or without the journal", async () => {
    await tenant.resetCounters();
    const again = await aeg("apply", "plan.json", "--ci");
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/already applied/);
    // Another runner has no journal: the live state itself says the plan no longer fits.
    await rm(file(".aeg/state/default.json"));
    const elsewhere = await aeg("apply", "plan.json", "--ci");
    expect(elsewhere.code).toBe(4);
    expect(elsewhere.stderr).toMatch(/stale: namedValues\/aeg-tenant-id: changed since the plan was made/);
    await noWrites();
  });

  it("a plan made stale by someone else's edit is refused naming the resource, and a new plan applies", async () => {
    const raw = parse(await readFile(tenant.configFile, "utf8"));
    raw.gateway.policyVersion = "2026.12.07";
    await writeFile(file("next.yaml"), stringify(raw));
    expect((await aeg("plan", "--config", file("next.yaml"), "--out", "next.json", "--ci")).code).toBe(0);
    // An out-of-band edit through ARM after the plan was made.
    await tenant.apim.namedValue.beginCreateOrUpdateAndWait(SAMPLE.resourceGroup, SAMPLE.apim, "aeg-channel", { displayName: "aeg-channel", value: "direct-line", secret: false, tags: ["aeg"] }, { updateIntervalInMs: 10 });
    await tenant.resetCounters();
    const stale = await aeg("apply", "next.json", "--ci", "--json");
    expect(stale.code).toBe(4);
    const envelope = JSON.parse(stale.stdout);
    expect(envelope).toMatchObject({ status: "refused", exitCode: 4, stale: ["namedValues/aeg-channel: changed since the plan was made (now update, planned ok)"] });
    await noWrites();

    expect((await aeg("plan", "--config", file("next.yaml"), "--out", "next.json", "--force", "--ci")).code).toBe(0);
    const applied = await aeg("apply", "next.json", "--ci");
    expect(applied.code, applied.stderr).toBe(0);
    expect((await aeg("doctor", "--config", file("next.yaml"), "--ci")).code).toBe(0);
  });

  it("a write refused halfway: apply says where it stopped and what to do, and records the failure", async () => {
    // The configuration of the last test moves the policy version again: one named value to update.
    const raw = parse(await readFile(file("next.yaml"), "utf8"));
    raw.gateway.policyVersion = "2026.12.08";
    await writeFile(file("later.yaml"), stringify(raw));
    expect((await aeg("plan", "--config", file("later.yaml"), "--out", "later.json", "--ci")).code).toBe(0);
    const faults = `${tenant.sandbox.arm}/_sandbox/faults`;
    const refusal = { error: { code: "ValidationError", message: "sandbox refuses this write" } };
    await fetch(faults, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ match: { method: "PUT", pathRegex: "/namedValues/aeg-policy-version$" }, status: 400, body: refusal }) });
    try {
      const run = await aeg("apply", "later.json", "--ci");
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/Apply stopped: .*sandbox refuses this write/);
      expect(run.stderr).toMatch(/Part of the plan was applied\. /);
      expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
      const journal = JSON.parse(await readFile(file(".aeg/state/default.json"), "utf8"));
      expect(journal.lastApply).toMatchObject({ outcome: "failed" });
    } finally {
      await fetch(faults, { method: "DELETE" });
    }
  });

  it("an existing --out file is kept unless --force", async () => {
    const run = await aeg("plan", "--config", tenant.configFile, "--out", "plan.json", "--ci");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--out: plan\.json already exists/);
  });
});
