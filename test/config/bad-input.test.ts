// The bad-input corpus: every broken input a user can hand aeg (configuration as data and as raw
// YAML, flags, AEG_* variables, files the configuration names) gets exit 2 (3 for credentials),
// a message naming the culprit, no stack trace, and no write. Pure schema cases run in-process;
// the rest run the built CLI against one sandbox, which must see no ARM write at all.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from "vitest";
import { parse, stringify } from "yaml";
import { configFileProblems, withAbsolutePaths } from "../../src/config/files.js";
import { resolveConfig } from "../../src/config/load.js";
import { explainAzureError } from "../../src/azure/errors.js";
import { ConfigError, ExitCode, UserError } from "../../src/errors.js";
import { runAeg, testTenant, type CliResult, type TestTenant } from "../support/cli.js";

type Raw = Record<string, any>;

let tenant: TestTenant;
let base: Raw;
let dir: string;

beforeAll(async () => {
  tenant = await testTenant();
  base = parse(await readFile(tenant.configFile, "utf8")) as Raw;
  dir = path.join(tenant.cwd, "corpus");
  await mkdir(dir, { recursive: true });
  await tenant.resetCounters();
});

afterAll(async () => {
  await tenant?.close();
});

const variant = (change: (c: Raw) => void): Raw => {
  const c = structuredClone(base);
  change(c);
  return c;
};

/** The problems resolveConfig reports for `raw` (it must refuse it). */
function schemaProblems(raw: Raw): string[] {
  try {
    resolveConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(ExitCode.usage);
    return (err as ConfigError).problems;
  }
  throw new Error("the configuration was accepted");
}

const GOOD_CS = "Endpoint=sb://ehns-aeg-sandbox.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleS1ub3Qtc2hvd24=";

// ---------------------------------------------------------------------------------------------
// Configuration as data, checked by the schema (in-process): [what, change, the culprit named].
// ---------------------------------------------------------------------------------------------
const SCHEMA_CASES: Array<[string, (c: Raw) => void, string]> = [
  ["subscription id not a GUID", (c) => (c.subscriptionId = "my-subscription"), "subscriptionId: not a GUID"],
  ["tenant id a number", (c) => (c.tenantId = 12345), "tenantId: not a GUID"],
  ["resource group ending with a dot", (c) => (c.resourceGroup = "rg-aeg."), "resourceGroup: letters, digits"],
  ["resource group of 91 characters", (c) => (c.resourceGroup = "r".repeat(91)), "resourceGroup: at most 90 characters"],
  ["resource group with a slash", (c) => (c.resourceGroup = "rg/other"), "resourceGroup: letters, digits"],
  ["location with a semicolon", (c) => (c.location = "westeurope;x"), "location: an Azure region"],
  ["location with a line break", (c) => (c.location = "west\neurope"), "location: must not contain control characters"],
  ["unknown cloud", (c) => (c.cloud.name = "Mars"), "cloud.name: AzureCloud, AzureUSGovernment, AzureChinaCloud, custom or sandbox"],
  ["ARM endpoint over http", (c) => (c.cloud.resourceManager = "http://127.0.0.1:1"), "cloud.resourceManager: http:// is not accepted"],
  ["authority that is no URL", (c) => (c.cloud.authority = "login.example.com"), "cloud.authority: not a URL"],
  ["Graph endpoint with a path", (c) => (c.cloud.graph = "https://graph.example.com/v1.0"), "cloud.graph: must be the root URL only"],
  ["Event Hubs endpoint over ftp", (c) => (c.cloud.eventHubsEndpoint = "ftp://127.0.0.1:5671"), "cloud.eventHubsEndpoint: ftp:// is not accepted"],
  ["custom cloud without endpoints", (c) => (c.cloud = { name: "custom" }), "cloud.resourceManager: required when cloud.name is custom"],
  ["client id not a GUID", (c) => (c.auth.clientId = "aeg-operator"), "auth.clientId: not a GUID"],
  ["secret file without a client id", (c) => (c.auth = { clientSecretFile: "x.secret" }), "auth.clientId: required when auth.clientSecretFile is set"],
  ["APIM name starting with a digit", (c) => (c.apim.name = "1apim"), "apim.name: letters, digits and hyphens"],
  ["APIM name ending with a hyphen", (c) => (c.apim.name = "apim-aeg-"), "apim.name: letters, digits and hyphens"],
  ["APIM name of 51 characters", (c) => (c.apim.name = `a${"b".repeat(50)}`), "apim.name: at most 50 characters"],
  ["APIM tier that does not exist", (c) => (c.apim.sku = "Gold"), "apim.sku: one of Developer"],
  ["Developer tier with 3 units", (c) => (c.apim.capacity = 3), "apim.capacity: at most 1 unit for the Developer tier"],
  ["Consumption tier with a unit", (c) => Object.assign(c.apim, { sku: "Consumption", capacity: 1 }), "apim.capacity: must be 0 for the Consumption tier"],
  ["publisher email without a domain", (c) => (c.apim.publisherEmail = "governance"), "apim.publisherEmail: not an email address"],
  ["publisher name empty", (c) => (c.apim.publisherName = "  "), "apim.publisherName: must not be empty"],
  ["publisher name of 101 characters", (c) => (c.apim.publisherName = "p".repeat(101)), "apim.publisherName: at most 100 characters"],
  ["no audience", (c) => (c.gateway.audiences = []), "gateway.audiences: at least one audience"],
  ["audience over http", (c) => (c.gateway.audiences = ["http://gateway.example.com"]), "gateway.audiences[0]: a client id (GUID) or an Application ID URI"],
  ["audience with a query", (c) => (c.gateway.audiences = ["api://gateway?x=1"]), "gateway.audiences[0]: a client id (GUID) or an Application ID URI"],
  ["policy version written as a number", (c) => (c.gateway.policyVersion = 2026.06), "gateway.policyVersion: must be text"],
  ["policy version with a quote", (c) => (c.gateway.policyVersion = 'v1") + x + ("'), "gateway.policyVersion: letters, digits"],
  ["unknown channel", (c) => (c.gateway.channel = "teams"), "gateway.channel: custom-web or direct-line"],
  ["API id with a space", (c) => (c.gateway.apiId = "aeg gateway"), "gateway.apiId: letters, digits, '-' and '_' only"],
  ["API path with a leading slash", (c) => (c.gateway.apiPath = "/agents"), "gateway.apiPath: a relative URL path"],
  ["API path with a dot-dot segment", (c) => (c.gateway.apiPath = "agents/../admin"), "gateway.apiPath: must not contain '.' or '..' segments"],
  ["backend over ftp", (c) => (c.gateway.backendUrl = "ftp://agents.example.com/api"), "gateway.backendUrl: ftp:// is not accepted"],
  ["backend over http", (c) => (c.gateway.backendUrl = "http://agents.example.com/api"), "gateway.backendUrl: http:// is not accepted"],
  ["backend URL holding a password", (c) => (c.gateway.backendUrl = "https://svc:hunter2@agents.example.com/api"), "gateway.backendUrl: must not hold a user name or password"],
  ["store timeout of 0", (c) => (c.gateway.storeTimeoutSeconds = 0), "gateway.storeTimeoutSeconds: at least 1"],
  ["store timeout with a unit", (c) => (c.gateway.storeTimeoutSeconds = "10s"), "gateway.storeTimeoutSeconds: a whole number"],
  ["unknown pathway rule", (c) => (c.gateway.unknownPathway = "allow"), "gateway.unknownPathway: allow-anomaly or deny"],
  ["no agents", (c) => (c.agents = []), "agents: at least one agent"],
  ["agent id breaking out of an XML attribute", (c) => (c.agents[0].id = 'kb" onerror="x'), "agents[0].id: letters, digits, spaces"],
  ["agent id that APIM would evaluate", (c) => (c.agents[0].id = "@(context.Request.Body)"), "agents[0].id: letters, digits, spaces"],
  ["agent id with an OData quote", (c) => (c.agents[0].id = "kb' or fsi_agentid ne '"), "agents[0].id: letters, digits, spaces"],
  ["agent id naming a named value", (c) => (c.agents[0].id = "{{aeg-tenant-id}}"), "agents[0].id: letters, digits, spaces"],
  ["audience group not a GUID", (c) => (c.agents[1].audienceGroupId = "kb-users"), "agents[1].audienceGroupId: not a GUID"],
  ["operation id with a slash", (c) => (c.agents[0].operationId = "kb/run"), "agents[0].operationId: letters, digits, '-' and '_' only"],
  ["agent environment over http", (c) => (c.agents[0].environmentUrl = "http://org2.crm.dynamics.com"), "agents[0].environmentUrl: http:// is not accepted"],
  ["bot schema name with a space", (c) => (c.agents[0].schemaName = "contoso kb"), "agents[0].schemaName: a Copilot Studio schema name"],
  ["two agents with one slug", (c) => (c.agents[1].id = "Contoso KB Assistant"), "agents[1].id: same slug 'contoso-kb-assistant' as agents[0].id"],
  ["namespace of 5 characters", (c) => (c.telemetry.namespace = "ehns1"), "telemetry.namespace: at least 6 characters"],
  ["namespace ending with -sb", (c) => (c.telemetry.namespace = "ehns-aeg-sb"), "telemetry.namespace: must not end with -sb or -mgmt"],
  ["namespace starting with a digit", (c) => (c.telemetry.namespace = "9ehns-aeg"), "telemetry.namespace: letters, digits and hyphens"],
  ["event hub starting with a hyphen", (c) => (c.telemetry.eventHub = "-decisions"), "telemetry.eventHub: letters, digits"],
  ["64 partitions on Standard", (c) => (c.telemetry.partitionCount = 64), "telemetry.partitionCount: at most 32 for the Standard tier"],
  ["3 days of retention on Basic", (c) => Object.assign(c.telemetry, { sku: "Basic", messageRetentionInDays: 3 }), "telemetry.messageRetentionInDays: at most 1 day for the Basic tier"],
  ["logger id with a colon", (c) => (c.telemetry.loggerId = "logger:1"), "telemetry.loggerId: letters, digits, '-' and '_' only"],
  ["a sink consumer group on Basic", (c) => (c.telemetry = { ...c.telemetry, sku: "Basic", sinkConsumerGroup: "aeg-sink" }), "telemetry.sinkConsumerGroup: the Basic tier has only $Default"],
  ["connection string from a file and a variable", (c) => (c.telemetry.connectionString = { fromFile: "cs.txt", fromEnv: "EH_CS" }), "telemetry.connectionString: set exactly one of fromFile or fromEnv"],
  ["connection string variable starting with a digit", (c) => (c.telemetry.connectionString = { fromEnv: "1EH" }), "telemetry.connectionString.fromEnv: an environment variable name"],
  ["Dataverse over http", (c) => (c.dataverse.url = "http://org.crm.dynamics.com"), "dataverse.url: http:// is not accepted: use https://"],
  ["Dataverse Web API URL instead of the environment's", (c) => (c.dataverse.url = "https://org.crm.dynamics.com/api/data/v9.2"), "dataverse.url: must be the root URL only"],
  ["role name of 101 characters", (c) => (c.dataverse.roleName = "r".repeat(101)), "dataverse.roleName: at most 100 characters"],
  ["decision log enabled: yes-as-text", (c) => (c.dataverse.decisionLog = { enabled: "yes" }), "dataverse.decisionLog.enabled: true or false"],
  ["graph fallback: on-as-text", (c) => (c.graphFallback = { enabled: "on" }), "graphFallback.enabled: true or false"],
  ["validation deadline of 0", (c) => (c.validation = { deadlineSeconds: 0 }), "validation.deadlineSeconds: at least 1"],
  ["consumer group with a dollar", (c) => (c.validation = { consumerGroup: "$Custom" }), "validation.consumerGroup: $Default, or letters"],
  ["scenario for an agent not configured", (c) => (c.validation = { scenarios: [{ name: "x", agent: "nobody", token: "none", expect: { status: 401 } }] }), "validation.scenarios[0].agent: 'nobody' is not one of agents[].id"],
  ["scenario with caller and token", (c) => (c.validation = { scenarios: [{ name: "x", agent: c.agents[0].id, token: "none", caller: { from: "env", variable: "T" }, expect: { status: 401 } }] }), "validation.scenarios[0]: set exactly one of caller or token"],
  ["scenario expecting a 500", (c) => (c.validation = { scenarios: [{ name: "x", agent: c.agents[0].id, token: "none", expect: { status: 500 } }] }), "validation.scenarios[0].expect.status: 200, 401, 403 or 503"],
  ["a misspelt setting", (c) => (c.resourcegroup = "rg"), "(top level): unknown setting resourcegroup"],
  ["an empty templates directory name", (c) => (c.templatesDir = ""), "templatesDir: must not be empty"],
];

describe("configuration as data: the schema names the field", () => {
  it.each(SCHEMA_CASES)("%s", (_what, change, culprit) => {
    const problems = schemaProblems(variant(change));
    expect(problems.join("\n")).toContain(culprit);
  });
});

// ---------------------------------------------------------------------------------------------
// Files and variables the configuration names (in-process; the CLI cases below prove the wiring).
// ---------------------------------------------------------------------------------------------
const FILE_CASES: Array<[string, () => Promise<Raw>, string]> = [
    ["secret file missing", async () => variant((c) => (c.auth.clientSecretFile = "missing.secret")), "auth.clientSecretFile: "],
    ["secret file empty", async () => { await writeFile(path.join(dir, "empty.secret"), "\n"); return variant((c) => (c.auth.clientSecretFile = "empty.secret")); }, "empty.secret is empty"],
    ["CA file without a certificate", async () => { await writeFile(path.join(dir, "ca.pem"), "not a certificate"); return variant((c) => (c.cloud.caFile = "ca.pem")); }, "cloud.caFile: "],
    ["connection string file missing", async () => variant((c) => (c.telemetry.connectionString = { fromFile: "missing-cs.txt" })), "telemetry.connectionString.fromFile: "],
    ["connection string file holding something else", async () => { await writeFile(path.join(dir, "cs.txt"), "hello"); return variant((c) => (c.telemetry.connectionString = { fromFile: "cs.txt" })); }, "cs.txt does not hold an Event Hubs connection string"],
    ["connection string for another hub", async () => { await writeFile(path.join(dir, "other-cs.txt"), `${GOOD_CS};EntityPath=other`); return variant((c) => (c.telemetry.connectionString = { fromFile: "other-cs.txt" })); }, "is for event hub 'other', not telemetry.eventHub 'aeg-decisions'"],
    ["connection string variable not set", async () => variant((c) => (c.telemetry.connectionString = { fromEnv: "AEG_CORPUS_UNSET_CS" })), "telemetry.connectionString.fromEnv: AEG_CORPUS_UNSET_CS is not set"],
    ["templates directory missing", async () => variant((c) => (c.templatesDir = "no-such-templates")), "no-such-templates does not exist"],
    ["templates directory lacking a file", async () => { await mkdir(path.join(dir, "half-templates", "fragments"), { recursive: true }); await writeFile(path.join(dir, "half-templates", "api-policy.xml"), "<policies/>"); return variant((c) => (c.templatesDir = "half-templates")); }, "lacks fragments/aeg-validate-jwt.xml, fragments/aeg-eligibility-check.xml, operation-policy.xml"],
    ["templates directory that is a file", async () => variant((c) => (c.templatesDir = "cs.txt")), "cs.txt is not a directory"],
];

describe("files and variables the configuration names", () => {
  it.each(FILE_CASES)("%s", async (_what, make, culprit) => {
    const config = withAbsolutePaths(resolveConfig(await make()), dir);
    const problems = await configFileProblems(config, {});
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(culprit);
    // Never the secret itself.
    expect(problems[0]).not.toContain("c2VjcmV0");
  });

  it("a good connection string, the CA and the shipped templates pass", async () => {
    await writeFile(path.join(dir, "good-cs.txt"), `${GOOD_CS};EntityPath=aeg-decisions\n`);
    const config = withAbsolutePaths(resolveConfig(variant((c) => (c.telemetry.connectionString = { fromFile: "good-cs.txt" }))), dir);
    expect(await configFileProblems(config, {})).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Through the built CLI: flags, variables, raw YAML, and configurations that reach a dry run.
// ---------------------------------------------------------------------------------------------
const DRY_RUN = ["setup", "--dry-run", "--ci", "--skip-validation"];

interface CliCase {
  what: string;
  args: string[];
  /** Where to run, under the tenant's directory (default: the tenant's directory itself). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A configuration file to write first: its name, and its YAML text or data (made when the case runs). */
  file?: [string, () => string | Raw];
  code: number;
  culprit: string | RegExp;
}

const file = (name: string, content: string | (() => string)): [string, () => string] => [name, typeof content === "string" ? () => content : content];
const withConfig = (name: string, change: (c: Raw) => void, extra: string[] = []): Pick<CliCase, "args" | "file"> => ({ file: [name, () => variant(change)], args: [...DRY_RUN, "--config", `corpus/${name}`, ...extra] });

const BOMB = ["a: &a [x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join("\n");

const CLI_CASES: CliCase[] = [
  // Flags.
  { what: "--env climbing out of .aeg/state", args: [...DRY_RUN, "--config", "tenant/aeg.yaml", "--env", "../.."], code: 2, culprit: '--env: "../.." cannot name an environment' },
  { what: "--env with a slash", args: ["doctor", "--config", "tenant/aeg.yaml", "--env", "prod/eu"], code: 2, culprit: '--env: "prod/eu"' },
  { what: "--subscription not a GUID", args: [...DRY_RUN, "--config", "tenant/aeg.yaml", "--subscription", "my-sub"], code: 2, culprit: "--subscription (subscriptionId): not a GUID" },
  { what: "--tenant not a GUID", args: [...DRY_RUN, "--config", "tenant/aeg.yaml", "--tenant", "contoso.onmicrosoft.com"], code: 2, culprit: "--tenant (tenantId): not a GUID" },
  { what: "--client-id not a GUID", args: [...DRY_RUN, "--config", "tenant/aeg.yaml", "--client-id", "operator"], code: 2, culprit: "--client-id (auth.clientId): not a GUID" },
  { what: "--resource-group ending with a dot", args: [...DRY_RUN, "--config", "tenant/aeg.yaml", "--resource-group", "rg."], code: 2, culprit: "--resource-group (resourceGroup)" },
  { what: "--location with a slash", args: [...DRY_RUN, "--config", "tenant/aeg.yaml", "--location", "west/europe"], code: 2, culprit: "--location (location): an Azure region" },
  { what: "--config naming a directory", args: [...DRY_RUN, "--config", "corpus"], code: 2, culprit: "corpus: is a directory" },
  { what: "--config naming nothing", args: ["doctor", "--config", "corpus/none.yaml"], code: 2, culprit: "none.yaml: not found" },
  { what: "--sandbox-dir naming a file", args: [...DRY_RUN, "--sandbox", "--sandbox-dir", "tenant/aeg.yaml"], code: 2, culprit: "--sandbox-dir: " },
  { what: "sandbox reset on a file", args: ["sandbox", "reset", "--state-dir", "tenant/aeg.yaml"], code: 2, culprit: "tenant/aeg.yaml: is a file, not a sandbox state directory" },
  { what: "--batch-size of 0", args: ["sink", "--once", "--config", "tenant/aeg.yaml", "--batch-size", "0"], code: 2, culprit: "--batch-size" },
  { what: "--env without a value", args: ["doctor", "--env"], code: 2, culprit: "--env expects a value" },
  // AEG_* variables.
  { what: "AEG_SUBSCRIPTION_ID not a GUID", args: [...DRY_RUN, "--config", "tenant/aeg.yaml"], env: { AEG_SUBSCRIPTION_ID: "sub-1" }, code: 2, culprit: "AEG_SUBSCRIPTION_ID (subscriptionId): not a GUID" },
  { what: "AEG_TENANT_ID not a GUID", args: [...DRY_RUN, "--config", "tenant/aeg.yaml"], env: { AEG_TENANT_ID: "contoso" }, code: 2, culprit: "AEG_TENANT_ID (tenantId): not a GUID" },
  { what: "AEG_RESOURCE_GROUP with a slash", args: [...DRY_RUN, "--config", "tenant/aeg.yaml"], env: { AEG_RESOURCE_GROUP: "rg/x" }, code: 2, culprit: "AEG_RESOURCE_GROUP (resourceGroup)" },
  { what: "AEG_LOCATION with a semicolon", args: ["doctor", "--config", "tenant/aeg.yaml"], env: { AEG_LOCATION: "westeurope;rm" }, code: 2, culprit: "AEG_LOCATION (location)" },
  { what: "AEG_APIM_NAME starting with a hyphen", args: [...DRY_RUN, "--config", "tenant/aeg.yaml"], env: { AEG_APIM_NAME: "-apim" }, code: 2, culprit: "AEG_APIM_NAME (apim.name)" },
  { what: "AEG_CLIENT_ID not a GUID", args: ["doctor", "--config", "tenant/aeg.yaml"], env: { AEG_CLIENT_ID: "me" }, code: 2, culprit: "AEG_CLIENT_ID (auth.clientId): not a GUID" },
  { what: "AEG_POLL_INTERVAL_MS not a number", args: [...DRY_RUN, "--config", "tenant/aeg.yaml"], env: { AEG_POLL_INTERVAL_MS: "fast" }, code: 2, culprit: 'AEG_POLL_INTERVAL_MS: "fast"' },
  // Raw YAML.
  { what: "an alias bomb", file: file("bomb.yaml", BOMB), args: [...DRY_RUN, "--config", "corpus/bomb.yaml"], code: 2, culprit: /bomb\.yaml: .*alias/i },
  { what: "an alias bomb as the aeg.yaml --sandbox reads (exits, no sandbox left running)", cwd: "corpus/sandbox-cwd", file: file("sandbox-cwd/aeg.yaml", BOMB), args: [...DRY_RUN, "--sandbox"], code: 2, culprit: /aeg\.yaml: .*alias/i },
  { what: "an unclosed flow sequence", file: file("unclosed.yaml", "apim:\n  name: [unclosed\n"), args: [...DRY_RUN, "--config", "corpus/unclosed.yaml"], code: 2, culprit: /unclosed\.yaml:\d+:\d+/ },
  { what: "a key given twice", file: file("twice.yaml", "location: westeurope\nlocation: northeurope\n"), args: [...DRY_RUN, "--config", "corpus/twice.yaml"], code: 2, culprit: /twice\.yaml:2:\d+: .*unique/i },
  { what: "a tab for indentation", file: file("tabs.yaml", "apim:\n\tname: x\n"), args: [...DRY_RUN, "--config", "corpus/tabs.yaml"], code: 2, culprit: /tabs\.yaml:2:\d+/ },
  { what: "a list at the top", file: file("list.yaml", "- a\n- b\n"), args: [...DRY_RUN, "--config", "corpus/list.yaml"], code: 2, culprit: "list.yaml: must be a mapping of settings" },
  { what: "two documents in one file", file: file("two.yaml", "location: westeurope\n---\nlocation: northeurope\n"), args: [...DRY_RUN, "--config", "corpus/two.yaml"], code: 2, culprit: /two\.yaml:\d+:\d+: holds more than one YAML document/ },
  { what: "a binary file", file: file("binary.yaml", "\u0000\u0001\u0002ELF"), args: [...DRY_RUN, "--config", "corpus/binary.yaml"], code: 2, culprit: "binary.yaml: is not a text file" },
  { what: "an unquoted version YAML reads as a number", file: file("version.yaml", () => stringify(base).replace(/policyVersion: .*/, "policyVersion: 2026.06")), args: [...DRY_RUN, "--config", "corpus/version.yaml"], code: 2, culprit: "gateway.policyVersion: must be text" },
  // Configurations a dry run refuses before its first request.
  { what: "Dataverse over http", ...withConfig("dv-http.yaml", (c) => (c.dataverse.url = "http://org.crm.dynamics.com")), code: 2, culprit: "dataverse.url: http:// is not accepted" },
  { what: "a backend APIM refuses", ...withConfig("backend.yaml", (c) => (c.gateway.backendUrl = "file:///etc/passwd")), code: 2, culprit: "gateway.backendUrl: file:// is not accepted" },
  { what: "an agent id that breaks the policy", ...withConfig("agent.yaml", (c) => (c.agents[0].id = "kb<script>")), code: 2, culprit: "agents[0].id" },
  { what: "a missing connection-string file", ...withConfig("cs-file.yaml", (c) => (c.telemetry.connectionString = { fromFile: "no-cs.txt" })), code: 2, culprit: "telemetry.connectionString.fromFile: " },
  { what: "a connection-string variable not set", ...withConfig("cs-env.yaml", (c) => (c.telemetry.connectionString = { fromEnv: "AEG_CORPUS_NO_CS" })), code: 2, culprit: "telemetry.connectionString.fromEnv: AEG_CORPUS_NO_CS is not set" },
  { what: "a missing templates directory", ...withConfig("templates.yaml", (c) => (c.templatesDir = "no-templates")), code: 2, culprit: /templatesDir: .*no-templates does not exist/ },
  { what: "a missing client secret file", ...withConfig("secret.yaml", (c) => (c.auth.clientSecretFile = "no.secret")), code: 2, culprit: /auth\.clientSecretFile: .*no\.secret does not exist/ },
  { what: "several problems at once, one line each", ...withConfig("several.yaml", (c) => Object.assign(c.apim, { name: "-x", publisherEmail: "x" })), code: 2, culprit: /apim\.name: .*\napim\.publisherEmail: not an email address/ },
  { what: "the same in --json", ...withConfig("json.yaml", (c) => (c.gateway.apiPath = "/x"), ["--json"]), code: 2, culprit: "gateway.apiPath: a relative URL path" },
  // Credentials: exit 3, naming the setting.
  { what: "a wrong client secret", ...withConfig("wrong-secret.yaml", (c) => (c.auth.clientSecretFile = "wrong.secret")), code: 3, culprit: "auth.clientSecretFile" },
  { what: "a tenant the authority does not know", ...withConfig("unknown-tenant.yaml", (c) => (c.tenantId = "4f1e2d3c-5b6a-4798-8a9b-0c1d2e3f4a5b")), code: 3, culprit: "Check tenantId" },
  { what: "an authority whose CA is not named", ...withConfig("no-ca.yaml", (c) => delete c.cloud.caFile), code: 3, culprit: "cloud.caFile" },
  { what: "an application unknown to the tenant", ...withConfig("unknown-app.yaml", (c) => (c.auth.clientId = "0d5c4b3a-2918-4776-a5b4-c3d2e1f00a9b")), code: 3, culprit: "auth.clientId" },
];

/** At most `n` at once: each CLI run is mostly its start-up, and the machine has two cores. */
function limiter(n: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (work) => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await work();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
const slot = limiter(2);

describe("through the built CLI: exit code, the culprit named, no stack trace, no write", () => {
  beforeAll(async () => {
    await writeFile(path.join(dir, "wrong.secret"), "not-the-secret\n", { mode: 0o600 });
  });

  // A case may wait its turn for a slot: the timeout covers the wait.
  it.concurrent.for(CLI_CASES.map((c) => [c.what, c] as const))("%s", { timeout: 600_000 }, async ([, c], { expect }) => {
    if (c.file) {
      const content = c.file[1]();
      await mkdir(path.dirname(path.join(dir, c.file[0])), { recursive: true });
      await writeFile(path.join(dir, c.file[0]), typeof content === "string" ? content : stringify(content));
    }
    const run = await slot(() => runAeg(c.args, { cwd: path.join(tenant.cwd, c.cwd ?? ""), env: c.env ?? {} }));
    const said = saidBy(run, c.args.includes("--json"), expect);
    expect(run.code, said).toBe(c.code);
    if (typeof c.culprit === "string") expect(said).toContain(c.culprit);
    else expect(said).toMatch(c.culprit);
    expect(said).not.toMatch(/^\s+at .+:\d+(:\d+)?\)?$/m);
    expect(said).not.toMatch(/unexpected error/);
    expect(await tenant.armWrites()).toBe(0);
  });
});

/** What the user reads: stderr, or the envelope's error with --json (whose exit code must agree). */
function saidBy(run: CliResult, json: boolean, expect: ExpectStatic): string {
  if (!json) return run.stderr;
  const envelope = JSON.parse(run.stdout) as { exitCode: number; error: { message: string; hint?: string } };
  expect(envelope.exitCode).toBe(run.code);
  return `${envelope.error.message}\n${envelope.error.hint ?? ""}${run.stderr}`;
}

describe("an endpoint the configuration names that cannot be reached", () => {
  // What core-rest-pipeline throws when a request never got an answer.
  const sendError = (code: string, url: string) => Object.assign(new Error(`${code} while sending`), { name: "RestError", code, request: { url } });

  it.each([
    ["ENOTFOUND", ExitCode.usage, "https://org.crm.dynamics.invalid: no such host", "dataverse.url"],
    ["SELF_SIGNED_CERT_IN_CHAIN", ExitCode.usage, "its TLS certificate is not trusted", "cloud.caFile"],
    ["ERR_TLS_CERT_ALTNAME_INVALID", ExitCode.usage, "its TLS certificate is not trusted", "cloud.caFile"],
    ["ECONNREFUSED", ExitCode.unexpected, "cannot connect (ECONNREFUSED)", "network path"],
  ] as const)("%s", (code, exitCode, message, hint) => {
    const err = explainAzureError(sendError(code, "https://org.crm.dynamics.invalid/api/data/v9.2/WhoAmI"), "dataverse-access", "a role");
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(exitCode);
    expect(err.message).toContain(message);
    expect((err as UserError).hint).toContain(hint);
  });
});

describe("the corpus", () => {
  it("has at least 60 broken inputs, at least 20 through the real CLI", () => {
    expect(SCHEMA_CASES.length + FILE_CASES.length + CLI_CASES.length).toBeGreaterThanOrEqual(60);
    expect(CLI_CASES.length).toBeGreaterThanOrEqual(20);
  });
});
