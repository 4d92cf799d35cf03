import { personaDirectory, sandboxGatewayProblem } from "../azure/sandbox.js";
import { isNotFound } from "../azure/errors.js";
import { eventHubAddress } from "../azure/eventhubs.js";
import type { Config } from "../config/schema.js";
import { ConfigError, ExitCode, UserError } from "../errors.js";
import { agentSlug } from "../policy/templates.js";
import { DecisionLogRows } from "../validate/decision-log-rows.js";
import { EventHubRecords } from "../validate/eventhub-records.js";
import { runValidation, type ScenarioResult } from "../validate/run.js";
import { configuredScenarios, personaScenarios, type Scenario } from "../validate/scenarios.js";
import { scenarioToken, type TokenContext } from "../validate/tokens.js";
import type { Session } from "./session.js";

/**
 * Seed step 7: the contract matrix against the live gateway. The plan comes from aeg.yaml
 * (`validation.scenarios`) or, on a sandbox tenant, from its personas.
 */
export async function validateGateway(session: Session, opts: { runId: string }): Promise<{ results: ScenarioResult[]; notes: string[] }> {
  const { config, cloud, arm } = session;
  const notes: string[] = [];
  const directory = cloud.name === "custom" ? await personaDirectory(cloud.authority) : undefined;
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
  if (scenarios.length === 0) {
    throw new ConfigError(["validation.scenarios: no validation plan"], "Add scenarios to aeg.yaml (see README, Validation), or run against the sandbox with --sandbox.");
  }
  const agents = new Map(config.agents.map((a) => [a.id, a]));
  const unknown = scenarios.find((s) => !agents.has(s.agentId));
  if (unknown) throw new ConfigError([`validation.scenarios: '${unknown.name}' names agent '${unknown.agentId}', which is not in agents`]);

  const service = await arm.apim.apiManagementService.get(config.resourceGroup, config.apim.name).catch((err: unknown) => {
    if (isNotFound(err)) throw new UserError(`apim.name: no API Management service '${config.apim.name}' yet`, ExitCode.usage, "Run aeg setup first.");
    throw err;
  });
  if (!service.gatewayUrl) throw new UserError(`apim: '${config.apim.name}' has no gateway URL yet (${service.provisioningState})`, ExitCode.usage, "Wait for setup to finish, then validate.");

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
      url: (agentId) => `${service.gatewayUrl}/${config.gateway.apiPath}/${agentSlug(agents.get(agentId)!.id)}`,
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
