// aeg validate --report / aeg setup --report against a sandbox tenant: the in-toto statement's
// subjects are the policy documents exactly as ARM stores them, the HTML holds every digest,
// scenario and privilege, a persona made ineligible in the governance store gives FAILED and
// exit 5, and neither file ever holds a secret or a token.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { runAeg, testTenant, type TestTenant } from "../support/cli.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { openReports } from "../support/browser.js";
import { armFetch } from "../support/sandbox.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\./;

let tenant: TestTenant;
let config: string;
const aeg = (...args: string[]) => runAeg([...args, "--config", config], { cwd: tenant.cwd });

interface Statement {
  _type: string;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: string;
  predicate: { result: string; configuration: Array<{ name: string; digest?: { sha256: string }; annotations?: Record<string, unknown> }>; url?: string; passedTests: string[]; warnedTests: string[]; failedTests: string[] };
}

interface Scenario {
  name: string;
  agentId: string;
  correlationId: string;
  passed: boolean;
  caller: { label: string; upn?: string };
}

const readReport = async (dir: string) => ({
  statement: JSON.parse(await readFile(path.join(dir, "attestation.json"), "utf8")) as Statement,
  html: await readFile(path.join(dir, "report.html"), "utf8"),
});

/** What ARM holds for a policy document, read here with a plain request, as a verifier would. */
async function storedValue(resourceId: string): Promise<string> {
  const res = await armFetch(tenant.sandbox, "GET", `${resourceId}?api-version=2024-05-01&format=xml`);
  expect(res.status, resourceId).toBe(200);
  return res.json.properties.value as string;
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const htmlText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/** Every secret the sandbox tenant knows, and anything shaped like a bearer token. */
function expectNoSecret(text: string): void {
  const sb = tenant.sandbox;
  for (const secret of [sb.clientSecret, sb.readerClientSecret, /SharedAccessKey=([^;]+)/.exec(sb.eventHubsConnectionString("ehns-aeg-sandbox"))![1]!]) expect(text).not.toContain(secret);
  expect(text).not.toMatch(JWT);
}

beforeAll(async () => {
  tenant = await testTenant();
  const raw = parse(await readFile(tenant.configFile, "utf8")) as Record<string, unknown>;
  config = path.join(tenant.cwd, "report.yaml");
  await writeFile(config, stringify({ ...raw, validation: { deadlineSeconds: 5 } }));
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

describe("aeg setup --report and aeg validate --report", () => {
  let passing: string;
  let scenarios: Scenario[];

  it("setup's closing validation writes both files", async () => {
    const dir = path.join(tenant.cwd, "setup-evidence");
    const setup = await aeg("setup", "--ci", "--json", "--report", dir);
    expect(setup.code, setup.stderr).toBe(0);
    const out = JSON.parse(setup.stdout) as { status: string; report: { dir: string; files: string[]; result: string } };
    expect(out.report).toEqual({ dir, files: [path.join(dir, "report.html"), path.join(dir, "attestation.json")], result: "PASSED" });
    const { statement } = await readReport(dir);
    expect(statement.predicate.result).toBe("PASSED");
  });

  it("validate writes an in-toto test-result statement whose subjects are the stored policies, by SHA-256", async () => {
    passing = path.join(tenant.cwd, "evidence");
    const junit = path.join(tenant.cwd, "junit.xml");
    const url = "https://ci.example/runs/42?attempt=1&x=<y>";
    const run = await aeg("validate", "--ci", "--json", "--junit", junit, "--report", passing, "--report-url", url);
    expect(run.code, run.stderr).toBe(0);
    scenarios = (JSON.parse(run.stdout) as { scenarios: Scenario[] }).scenarios;
    expect(existsSync(junit)).toBe(true);
    const { statement } = await readReport(passing);

    expect(statement._type).toBe("https://in-toto.io/Statement/v1");
    expect(statement.predicateType).toBe("https://in-toto.io/attestation/test-result/v0.1");
    expect(statement.predicate.result).toBe("PASSED");
    expect(statement.predicate.url).toBe(url);
    expect(statement.predicate.failedTests).toEqual([]);
    expect(statement.predicate.passedTests).toHaveLength(scenarios.length);
    for (const s of scenarios) expect(statement.predicate.passedTests.some((t) => t.startsWith(`${s.agentId} | ${s.name} | ${s.caller.label}`))).toBe(true);

    // Every fragment, the API policy and each operation policy, each digest over ARM's own value.
    const service = `/subscriptions/${tenant.sandbox.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/${SVC}`;
    const operations: string[] = [];
    for await (const op of tenant.apim.apiOperation.listByApi(RG, SVC, "aeg-gateway")) operations.push(op.name!);
    const expected = [
      `${service}/policyFragments/aeg-validate-jwt`,
      `${service}/policyFragments/aeg-eligibility-check`,
      `${service}/apis/aeg-gateway/policies/policy`,
      ...operations.map((op) => `${service}/apis/aeg-gateway/operations/${op}/policies/policy`),
    ];
    expect(statement.subject.map((s) => s.name).sort()).toEqual(expected.sort());
    for (const subject of statement.subject) expect(subject.digest.sha256, subject.name).toBe(sha256(await storedValue(subject.name)));

    const names = statement.predicate.configuration.map((c) => c.name);
    expect(names).toEqual(["aeg", "configuration", "apim-service"]);
    expect(statement.predicate.configuration[2]!.annotations).toMatchObject({ resourceId: service, policyVersion: "2026.06.09" });
  });

  it("the HTML holds every digest, every scenario and the gateway identity's privileges, escaped", async () => {
    const { statement, html } = await readReport(passing);
    for (const s of statement.subject) {
      expect(html).toContain(s.digest.sha256);
      expect(html).toContain(htmlText(s.name));
    }
    for (const s of scenarios) {
      expect(html).toContain(`data-correlation-id="${s.correlationId}"`);
      expect(html).toContain(htmlText(s.name));
      if (s.caller.upn) expect(html).toContain(htmlText(s.caller.upn));
    }
    // Data Sender on the hub, the aeg role's Read (Global) on each table the policy reads.
    expect(html).toMatch(/Azure Event Hubs Data Sender<\/td><td class="id">[^<]*\/eventhubs\/aeg-decisions<\/td><td class="verdict expected">/);
    expect(html).toMatch(/AEG Gateway Reader <span class="verdict-tag expected">/);
    for (const table of ["fsi_CaiComplianceState", "fsi_CbgEntitlementMaterialized"]) expect(html).toMatch(new RegExp(`prvRead${table}</td><td>Global</td><td class="verdict expected">`));
    expect(html).toContain("No application permission, as designed.");
    expect(html).toContain("no applied plan recorded");
    // The pipeline URL is data, not markup.
    expect(html).toContain("https://ci.example/runs/42?attempt=1&amp;x=&lt;y&gt;");
    expect(html).not.toContain("<y>");
    // Self-contained: nothing for a browser to fetch.
    expect(html).not.toMatch(/<(script|link|img|iframe|object)\b/i);
    expect(html).not.toMatch(/url\(|@import/);
  });

  it("neither file holds a secret or a token", async () => {
    const { statement, html } = await readReport(passing);
    expectNoSecret(JSON.stringify(statement));
    expectNoSecret(html);
  });

  it("an existing report directory is refused (exit 2, nothing run) unless --force", async () => {
    const before = await readFile(path.join(passing, "attestation.json"), "utf8");
    const refused = await aeg("validate", "--ci", "--json", "--report", passing);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ status: "error", error: { message: expect.stringContaining("already holds files") } });
    expect(await readFile(path.join(passing, "attestation.json"), "utf8")).toBe(before);

    const forced = await aeg("validate", "--ci", "--report", passing, "--force");
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`Evidence (PASSED): ${path.join(passing, "report.html")}`);
  });

  it("reads the journal's record of the last apply: plan digest, change id, planner, applier, and which policies still match", async () => {
    const { statement } = await readReport(passing);
    const [first, second] = statement.subject;
    const journal = path.join(tenant.cwd, ".aeg", "state", "default.json");
    const state = JSON.parse(await readFile(journal, "utf8")) as Record<string, unknown>;
    const planDigest = "a".repeat(64);
    await writeFile(
      journal,
      JSON.stringify({
        ...state,
        lastApply: {
          planDigest: `sha256:${planDigest}`,
          changeId: "CHG-1234",
          planner: { objectId: "11111111-1111-1111-1111-111111111111", name: "pat.planner@contoso.example" },
          applier: { objectId: "22222222-2222-2222-2222-222222222222", name: "ada.applier@contoso.example" },
          plannedAt: "2026-06-01T09:00:00Z",
          appliedAt: "2026-06-02T10:30:00Z",
          policyDigests: { [first!.name.toUpperCase()]: first!.digest.sha256, [second!.name]: "0".repeat(64) },
        },
      }),
    );
    const dir = path.join(tenant.cwd, "evidence-with-plan");
    const run = await aeg("validate", "--ci", "--report", dir);
    expect(run.code, run.stderr).toBe(0);
    const after = await readReport(dir);
    expect(after.statement.predicate.configuration.find((c) => c.name === "applied-plan")).toEqual({
      name: "applied-plan",
      digest: { sha256: planDigest },
      annotations: {
        changeId: "CHG-1234",
        planner: { objectId: "11111111-1111-1111-1111-111111111111", name: "pat.planner@contoso.example" },
        applier: { objectId: "22222222-2222-2222-2222-222222222222", name: "ada.applier@contoso.example" },
        appliedAt: "2026-06-02T10:30:00Z",
      },
    });
    const row = (name: string) => after.html.split("\n").find((l) => l.includes(htmlText(name)) && l.startsWith('<tr class="policy'))!;
    expect(row(first!.name)).toContain("matches the last applied plan");
    expect(row(second!.name)).toContain("differs from the last applied plan");
    expect(row(after.statement.subject[2]!.name)).toContain("not in the last applied plan");
    expect(after.html).toContain("CHG-1234");
    expect(after.html).toContain("ada.applier@contoso.example");
    await writeFile(journal, JSON.stringify(state));
  });

  describe("with a persona made ineligible in the governance store", () => {
    let failing: string;

    it("gives FAILED, exit 5, and shows the scenario as failed", async () => {
      const dv = (p: string, init?: RequestInit) => fetch(`${tenant.sandbox.dataverse}/_sandbox/tables/fsi_cbgentitlementmaterializeds/rows${p}`, init);
      const rows = ((await (await dv("")).json()) as { value: Array<Record<string, unknown>> }).value;
      const emma = rows.find((r) => r["fsi_userupn"] === "emma@contoso.example")!;
      const key = String(emma["fsi_cbgentitlementmaterializedid"]);
      const patch = (body: Record<string, unknown>) => dv(`/${key}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      // Block, "No eligible cohort": the option-set values of the governance store.
      expect((await patch({ fsi_decision: 100000001, fsi_decisionreason: 100000000 })).status).toBe(200);
      try {
        failing = path.join(tenant.cwd, "evidence-failed");
        const run = await aeg("validate", "--ci", "--json", "--report", failing);
        expect(run.code).toBe(5);
        const out = JSON.parse(run.stdout) as { status: string; scenarios: Scenario[]; report: { result: string } };
        expect(out).toMatchObject({ status: "failed", report: { result: "FAILED" } });
        const failed = out.scenarios.filter((s) => !s.passed);
        expect(failed.map((s) => s.caller.upn)).toEqual(["emma@contoso.example"]);

        const { statement, html } = await readReport(failing);
        expect(statement.predicate.result).toBe("FAILED");
        expect(statement.predicate.failedTests).toHaveLength(1);
        expect(statement.predicate.failedTests[0]).toContain("emma");
        expect(statement.predicate.passedTests).toHaveLength(out.scenarios.length - 1);
        const row = new RegExp(`<tr class="scenario failed" data-correlation-id="${failed[0]!.correlationId}">[\\s\\S]*?</tr>`).exec(html)?.[0];
        expect(row).toBeDefined();
        expect(row).toContain('<td class="outcome">Failed</td>');
        expect(row).toContain("status 403, expected 200");
        expect(html).toContain('<p class="result failed" id="result">');
      } finally {
        expect((await patch({ fsi_decision: emma["fsi_decision"], fsi_decisionreason: emma["fsi_decisionreason"] })).status).toBe(200);
      }
    });

    it("both reports render in headless Chromium: no console error, the summary and every scenario visible", async () => {
      const shots = path.join(tenant.cwd, "screenshots");
      await mkdir(shots, { recursive: true });
      const seen = await openReports([path.join(passing, "report.html"), path.join(failing, "report.html")], shots);
      for (const page of seen) {
        expect(page.errors, page.file).toEqual([]);
        expect(page.requests, page.file).toEqual([]);
        expect(page.summaryVisible).toBe(true);
        expect(page.scenarioIds).toHaveLength(scenarios.length);
        expect(page.visibleScenarios).toEqual(page.scenarioIds);
        expect(existsSync(page.screenshot)).toBe(true);
      }
      expect(seen[0]!.resultText).toMatch(/^Passed/);
      expect(seen[1]!.resultText).toMatch(/^Failed/);
      expect(seen[1]!.failedRowsVisible).toBe(1);
    });
  });
});
