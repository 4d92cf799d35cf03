import { randomUUID } from "node:crypto";
import { personaDirectory, sandboxGatewayProblem } from "../azure/sandbox.js";
import { isNotFound } from "../azure/errors.js";
import { eventHubAddress } from "../azure/eventhubs.js";
import type { Config } from "../config/schema.js";
import { ConfigError, ExitCode, UserError } from "../errors.js";
import { agentSlug } from "../policy/agent-slug.js";
import type { Session } from "../app/session.js";
import type { Reporter } from "../render/reporters.js";
import { operationPaths } from "../steps/api-shards.js";
import { DecisionLogRows } from "./decision-log-rows.js";
import { EventHubRecords } from "./eventhub-records.js";
import { runValidation, type ScenarioResult } from "./run.js";
import { configuredScenarios, personaScenarios, type Scenario } from "./scenarios.js";
import { scenarioToken, type TokenContext } from "./tokens.js";

/**
 * Seed step 7: the contract matrix against the live gateway. The plan comes from aeg.yaml
 * (`validation.scenarios`) or, on a sandbox tenant, from its personas.
 */
export async function validateGateway(session: Session, opts: { runId: string }): Promise<{ results: ScenarioResult[]; notes: string[] }> {
  const { config, cloud, arm } = session;
  const notes: string[] = [];
  const directory = cloud.sandbox ? await personaDirectory(cloud.authority) : undefined;
  if (directory) {
    // A sandbox tenant's gateway runs the policies' C# with Mono on this machine.
    const problem = await sandboxGatewayProblem();
    if (problem) throw new SandboxGatewayUnavailable(problem);
  }
  let scenarios: Scenario[] = configuredScenarios(config);
  if (scenarios.length === 0 && directory) {
    scenarios = personaScenarios(directory.personas, config);
    notes.push(`validation plan: the sandbox's ${directory.personas.length} personas and 4 token failures`);
  }
  if (scenarios.length === 0) throw new NoValidationPlan();
  const agents = new Map(config.agents.map((a) => [a.id, a]));
  const unknown = scenarios.find((s) => !agents.has(s.agentId));
  if (unknown) throw new ConfigError([`validation.scenarios: '${unknown.name}' names agent '${unknown.agentId}', which is not in agents`]);

  const service = await arm.apim.apiManagementService.get(config.resourceGroup, config.apim.name).catch((err: unknown) => {
    if (isNotFound(err)) throw new UserError(`apim.name: no API Management service '${config.apim.name}' yet`, ExitCode.usage, "Run aeg setup first.");
    throw err;
  });
  if (!service.gatewayUrl) throw new UserError(`apim: '${config.apim.name}' has no gateway URL yet (${service.provisioningState})`, ExitCode.usage, "Wait for setup to finish, then validate.");

  // Each agent is served by the API its operation is in (steps/api-shards.ts).
  const paths = await operationPaths(arm.apim, config);
  const pathOf = (agentId: string) => {
    const agent = agents.get(agentId)!;
    return paths.get(agent.operationId ?? agentSlug(agent.id))?.path ?? config.gateway.apiPath;
  };
  const tokens: TokenContext = {
    tenantId: config.tenantId,
    audiences: config.gateway.audiences,
    authority: cloud.authority,
    v1IssuerHost: cloud.v1IssuerHost,
    ...(directory ? { personaToken: directory.token } : {}),
  };
  // Listen before the first call (minus a little clock skew), so no record is missed.
  const records = new EventHubRecords(
    { ...eventHubAddress(config, cloud), consumerGroup: config.validation?.consumerGroup ?? "$Default" },
    session.credential,
    new Date(Date.now() - 5000),
  );
  try {
    const results = await runValidation(scenarios, {
      url: (agentId) => `${service.gatewayUrl}/${pathOf(agentId)}/${agentSlug(agents.get(agentId)!.id)}`,
      token: (plan) => scenarioToken(plan, tokens),
      records,
      // When the sink writes decisions to Dataverse, each one must land there too.
      ...(checksDecisionLog(config) ? { table: new DecisionLogRows(session.identity.dataverse(config.dataverse.url)) } : {}),
      deadlineMs: (config.validation?.deadlineSeconds ?? 60) * 1000,
      runId: opts.runId,
    });
    return { results, notes };
  } finally {
    await records.close();
  }
}

/** Nothing to validate with: no scenarios configured and no sandbox personas. */
export class NoValidationPlan extends ConfigError {
  constructor() {
    super(["validation.scenarios: no validation plan"], "Add scenarios to aeg.yaml (see README, Validation), or run against the sandbox with --sandbox.");
  }
}

/** The sandbox gateway cannot run here: validation is impossible, not failed. */
export class SandboxGatewayUnavailable extends UserError {
  constructor(problem: string) {
    super(`validation: the sandbox gateway cannot run policy expressions on this machine (${problem.split(". ")[0]})`, ExitCode.usage, "Install Mono: apt-get install -y mono-mcs mono-runtime libnewtonsoft-json5.0-cil");
  }
}

/** Rows are expected in fsi_aegdecisionlog when the decision log is on, unless the plan says not to. */
export function checksDecisionLog(config: Config): boolean {
  return config.validation?.checkDecisionLog ?? config.dataverse.decisionLog.enabled;
}

export interface ValidationSummary {
  passed: boolean;
  skipped?: string;
  scenarios: ScenarioResult[];
}

/**
 * Seed step 7 at the end of `aeg setup`. Setup itself succeeded by then: a validation that cannot
 * run here (no plan, no Mono for the sandbox gateway) is reported as skipped with what to do.
 */
export async function validateAfterSetup(session: Session, reporter: Reporter): Promise<ValidationSummary> {
  reporter.say("Validating the gateway against the contract (seed step 7)...");
  try {
    const { results, notes } = await validateGateway(session, { runId: randomUUID().slice(0, 8) });
    notes.forEach((n) => reporter.say(`note: ${n}`));
    const failed = results.filter((r) => !r.passed);
    for (const r of failed) reporter.say(`  ✘ ${r.name} [${r.agentId}]: ${r.problems.join("; ")}`);
    reporter.say(`Validation: ${results.length - failed.length} of ${results.length} scenarios passed.`);
    return { passed: failed.length === 0, scenarios: results };
  } catch (err) {
    if (err instanceof SandboxGatewayUnavailable) {
      reporter.say(`Validation skipped: ${err.message.replace(/^validation: /, "")}. ${err.hint ?? ""}`.trim());
      return { passed: true, skipped: "sandbox gateway unavailable", scenarios: [] };
    }
    if (err instanceof NoValidationPlan) {
      reporter.say("Validation skipped: no validation plan (add validation.scenarios to aeg.yaml, or pass --skip-validation).");
      return { passed: true, skipped: "no validation plan", scenarios: [] };
    }
    throw err;
  }
}
