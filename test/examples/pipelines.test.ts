import { readFileSync } from "node:fs";
import Ajv from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// The pipeline examples checked against the schemas their platforms publish (kept in
// test/examples/schemas/, sources in SOURCE.md), with each schema read the way its own tooling reads it.

const repo = new URL("../../", import.meta.url);
const readJson = (path: string): object => JSON.parse(readFileSync(new URL(path, repo), "utf8"));
const readYaml = (path: string): unknown => parse(readFileSync(new URL(path, repo), "utf8"));

/**
 * Both schemas are draft-07. Keywords next to a `$ref` are applied, not ignored (`extendRefs`):
 * their authors mean them (an `enum` beside `$ref: string`), and VS Code and Ajv 8 apply them too.
 * Unknown keywords are errors (`strictKeywords`), except the ones a schema's own tooling declares.
 */
function validator(schemaPath: string, options: { annotations?: string[]; coerceTypes?: boolean } = {}) {
  const ajv = new Ajv({ allErrors: true, extendRefs: true, strictKeywords: true, unknownFormats: true, coerceTypes: options.coerceTypes ?? false });
  for (const keyword of options.annotations ?? []) ajv.addKeyword(keyword, { valid: true, metaSchema: {} });
  const validate = ajv.compile(readJson(schemaPath));
  return (document: unknown): string[] => (validate(document) ? [] : (validate.errors ?? []).map((e) => `${e.dataPath || "/"} ${e.message}`));
}

const githubWorkflow = validator("test/examples/schemas/github-workflow.json");

/**
 * The Azure Pipelines schema is written for its language server (microsoft/azure-pipelines-language-server),
 * which reads YAML as Azure Pipelines does: a scalar is a string to a string-typed field (`true`,
 * `22`), so types are coerced here. Its editor keywords carry no constraint we can apply faithfully:
 * `firstProperty` only picks which `anyOf` branch to report errors from, `ignoreCase` and `aliases`
 * widen matching (ignoring them is stricter), `doNotSuggest` and `deprecationMessage` are hints.
 */
const azurePipeline = validator("test/examples/schemas/azure-pipelines-service-schema.json", {
  coerceTypes: true,
  annotations: ["firstProperty", "ignoreCase", "aliases", "doNotSuggest", "deprecationMessage"],
});

type Dict = Record<string, unknown>;
const dict = (value: unknown): Dict => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`expected a mapping, got ${JSON.stringify(value)}`);
  return value as Dict;
};
const list = (value: unknown): unknown[] => {
  if (!Array.isArray(value)) throw new Error(`expected a sequence, got ${JSON.stringify(value)}`);
  return value;
};

describe("examples/github-actions/aeg-change.yml", () => {
  const workflow = () => dict(readYaml("examples/github-actions/aeg-change.yml"));

  it("is a valid workflow by SchemaStore's github-workflow schema", () => {
    expect(githubWorkflow(workflow())).toEqual([]);
  });

  it("plans, waits for the production environment, then applies the same artifact", () => {
    const doc = workflow();
    expect(dict(doc.permissions)["id-token"]).toBe("write");
    const jobs = dict(doc.jobs);
    const plan = JSON.stringify(jobs.plan);
    const apply = dict(jobs.apply);
    expect(plan).toContain("npx aeg plan --env prod --out plan.json --change-id");
    expect(plan).toContain("azure/login@");
    expect(plan).toContain("actions/upload-artifact@");
    expect(apply.needs).toBe("plan");
    expect(apply.environment).toBe("production");
    expect(JSON.stringify(apply)).toContain("actions/download-artifact@");
    expect(JSON.stringify(apply)).toContain("npx aeg apply plan.json --ci");
    // No secret: the Azure sign-in is federated.
    expect(JSON.stringify(doc)).not.toMatch(/secrets\.|client-secret|creds:/);
  });

  it("rejects a job without runs-on", () => {
    const doc = workflow();
    delete dict(dict(doc.jobs).plan)["runs-on"];
    expect(githubWorkflow(doc).join("\n")).toMatch(/runs-on/);
  });

  it("rejects an unknown job key and a bad permission level", () => {
    const misspelt = workflow();
    dict(dict(misspelt.jobs).apply).enviroment = "production";
    expect(githubWorkflow(misspelt)).not.toEqual([]);
    const badPermission = workflow();
    dict(badPermission.permissions)["id-token"] = "admin";
    expect(githubWorkflow(badPermission)).not.toEqual([]);
  });
});

describe("examples/azure-pipelines/azure-pipelines.yml", () => {
  const pipeline = () => dict(readYaml("examples/azure-pipelines/azure-pipelines.yml"));
  const stage = (doc: Dict, name: string) => dict(list(doc.stages).find((s) => dict(s).stage === name));

  it("is a valid pipeline by the Azure Pipelines schema", () => {
    expect(azurePipeline(pipeline())).toEqual([]);
  });

  it("plans, then applies the same artifact in a deployment job on the production environment", () => {
    const doc = pipeline();
    const plan = JSON.stringify(stage(doc, "plan"));
    expect(plan).toContain("AzureCLI@2");
    expect(plan).toContain("npx aeg plan --env prod --out plan.json --change-id");
    expect(plan).toContain('"publish":"plan.json"');
    const applyStage = stage(doc, "apply");
    const deployment = dict(list(applyStage.jobs)[0]);
    expect(deployment.deployment).toBe("apply");
    expect(deployment.environment).toBe("production");
    expect(JSON.stringify(deployment)).toContain('"download":"current","artifact":"aeg-plan"');
    expect(JSON.stringify(deployment)).toContain("npx aeg apply");
    expect(JSON.stringify(doc)).not.toMatch(/addSpnToEnvironment|servicePrincipalKey|\$\(.*[Ss]ecret/);
  });

  it("rejects a task input AzureCLI@2 does not have", () => {
    const doc = pipeline();
    const step = list(dict(list(stage(doc, "plan").jobs)[0]).steps).map(dict).find((s) => s.task === "AzureCLI@2");
    dict(step!.inputs).clientSecret = "$(secret)";
    expect(azurePipeline(doc)).not.toEqual([]);
  });

  it("rejects a misspelt environment (the gate would be gone) and an unknown deployment strategy", () => {
    const misspelt = pipeline();
    const gate = dict(list(stage(misspelt, "apply").jobs)[0]);
    gate.enviroment = gate.environment;
    delete gate.environment;
    expect(azurePipeline(misspelt)).not.toEqual([]);
    const doc = pipeline();
    const deployment = dict(list(stage(doc, "apply").jobs)[0]);
    deployment.strategy = { once: dict(deployment.strategy).runOnce };
    expect(azurePipeline(doc)).not.toEqual([]);
  });

  it("is not read so leniently that anything passes", () => {
    expect(azurePipeline({ stages: "plan" })).not.toEqual([]);
    expect(azurePipeline({ steps: [{ unknownStep: "x" }] })).not.toEqual([]);
    expect(azurePipeline({ jobs: [{ job: "a", steps: [{ task: "NoSuchTask@9" }] }] })).not.toEqual([]);
  });
});
