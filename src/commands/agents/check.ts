import { Flags } from "@oclif/core";
import { checkAgents, evaluatePrecondition, formatVerdict, type AgentVerdict } from "../../agents/precondition.js";
import { AegCommand, type CommandResult } from "../../app/base-command.js";
import { environmentFlags } from "../../app/flags.js";
import { openSession } from "../../app/session.js";
import { explainAzureError } from "../../azure/errors.js";
import { ConfigError, ExitCode } from "../../errors.js";

interface CheckResult extends CommandResult {
  agents: AgentVerdict[];
}

const MODES: Record<string, number> = { unspecified: 0, none: 1, integrated: 2, customazuread: 3, "custom-azure-ad": 3, genericoauth2: 4, "generic-oauth2": 4 };

export default class AgentsCheck extends AegCommand<CheckResult> {
  static override summary = "Check that every agent requires Entra ID sign-in (the gateway's precondition)";
  static override description = `Reads each configured agent's Copilot Studio bot row (by agents[].schemaName, from agents[].environmentUrl or dataverse.url) and requires authenticationmode Integrated (2) or Custom Azure Active Directory (3) and authenticationtrigger Always (1). A failing agent is named with what to change.
Offline form: --authentication-mode and --require-sign-in check values you read yourself, without signing in.

Exit codes: 0 every agent qualifies, 2 usage or configuration, 3 authentication or permission (reading bots needs prvReadbot), 5 an agent fails the precondition.`;
  static override examples = ["<%= config.bin %> agents check --sandbox", "<%= config.bin %> agents check --authentication-mode Integrated --require-sign-in"];

  static override flags = {
    ...environmentFlags,
    "authentication-mode": Flags.string({ description: "offline: the agent's authentication mode (Integrated, CustomAzureAD, None, GenericOAuth2, Unspecified, or 0-4)" }),
    "require-sign-in": Flags.boolean({ description: "offline: 'Require users to sign in' is on", allowNo: true, dependsOn: ["authentication-mode"] }),
  };

  protected async execute(): Promise<CheckResult> {
    const { flags } = await this.parse(AgentsCheck);
    let verdicts: AgentVerdict[];
    if (flags["authentication-mode"] !== undefined) {
      const raw = flags["authentication-mode"];
      const mode = /^[0-4]$/.test(raw) ? Number(raw) : MODES[raw.toLowerCase().replace(/\s+/g, "")];
      if (mode === undefined) throw new ConfigError([`--authentication-mode: '${raw}' is not a mode (Integrated, CustomAzureAD, None, GenericOAuth2, Unspecified or 0-4)`]);
      verdicts = [evaluatePrecondition("agent", mode, flags["require-sign-in"] ? 1 : 0)];
    } else {
      const session = await openSession(flags, { lock: false });
      try {
        verdicts = await checkAgents(session.config, session.identity).catch((err: unknown) => {
          throw explainAzureError(err, "agents check", "read access to the bot table (prvReadbot) in each agent's environment");
        });
      } finally {
        await session.close();
      }
    }
    const failed = verdicts.some((v) => !v.ok);
    return { status: failed ? "precondition-failed" : "ok", exitCode: failed ? ExitCode.validation : ExitCode.ok, agents: verdicts };
  }

  protected text({ agents }: CheckResult): void {
    agents.flatMap(formatVerdict).forEach((l) => process.stderr.write(`${l}\n`));
  }
}
