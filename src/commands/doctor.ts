import { AegCommand, type CommandResult } from "../app/base-command.js";
import { NO_SOFT_DELETE_CHOICE, setupEngine } from "../app/engine.js";
import { environmentFlags } from "../app/flags.js";
import { openSession } from "../app/session.js";
import { checkAgents, formatVerdict, type AgentVerdict } from "../agents/precondition.js";
import { ExitCode } from "../errors.js";
import { publicSteps } from "../render/envelope.js";
import { formatPlan } from "../render/plan-text.js";
import { makeReporter, outputMode } from "../render/reporters.js";

interface DoctorResult extends CommandResult {
  environment: string;
  steps: ReturnType<typeof publicSteps>;
  agents: AgentVerdict[];
  arm: { reads: number; writes: number };
  /** The steps that drifted. */
  drifted: string[];
}

/** Statuses that mean live state is what setup would leave. */
const IN_SYNC = new Set(["ok", "skipped", "unverifiable"]);

export default class Doctor extends AegCommand<DoctorResult> {
  static override summary = "Check live state against the configuration and report drift";
  static override description = `Reads every resource setup manages and compares it with what setup would write (policies canonically, so APIM's reformatting is not drift). Writes nothing. A blocked change (one setup refuses to make) is drift too.

Also checks that every agent with a schemaName requires Entra ID sign-in (see aeg agents check).

Exit codes: 0 in sync, 1 unexpected error, 2 usage or configuration, 3 authentication or permission, 4 drift found, 5 no drift but an agent fails the sign-in precondition.`;
  static override examples = ["<%= config.bin %> doctor --sandbox", "<%= config.bin %> doctor --env prod --json"];

  static override flags = { ...environmentFlags };

  protected async execute(): Promise<DoctorResult> {
    const { flags } = await this.parse(Doctor);
    const reporter = makeReporter(outputMode(flags));
    const session = await openSession(flags, { lock: false });
    try {
      const engine = await setupEngine(session, reporter, { options: NO_SOFT_DELETE_CHOICE, signal: new AbortController().signal });
      const reports = await engine.plan();
      formatPlan(reports).forEach((line) => reporter.say(line));
      const drifted = reports.filter((r) => !IN_SYNC.has(r.status)).map((r) => r.id);
      // The agent precondition is part of the check; agents without a schema name are left out.
      const checked = session.config.agents.filter((a) => a.schemaName);
      const agents = checked.length > 0 ? await checkAgents({ ...session.config, agents: checked }, session.identity) : [];
      const failedAgents = agents.some((a) => !a.ok);
      return {
        status: drifted.length > 0 ? "drift" : failedAgents ? "precondition-failed" : "in-sync",
        exitCode: drifted.length > 0 ? ExitCode.drift : failedAgents ? ExitCode.validation : ExitCode.ok,
        environment: session.environment,
        steps: publicSteps(reports),
        agents,
        arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes },
        drifted,
      };
    } finally {
      await session.close();
    }
  }

  protected text(result: DoctorResult): void {
    const say = (line: string) => process.stderr.write(`${line}\n`);
    result.agents.filter((a) => !a.ok).flatMap(formatVerdict).forEach((line) => say(`agent precondition: ${line}`));
    const setup = `aeg setup${this.argv.includes("--sandbox") ? " --sandbox" : ""}`;
    say(result.drifted.length > 0 ? `Drift in ${result.drifted.join(", ")}: run \`${setup}\` to bring it back.` : "In sync: live state matches the configuration.");
  }
}
