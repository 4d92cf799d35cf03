import { AegCommand } from "../app/base-command.js";
import { environmentFlags } from "../app/flags.js";
import { openSession } from "../app/session.js";
import { Engine } from "../engine/runner.js";
import { ExitCode } from "../errors.js";
import { loadTemplates } from "../policy/templates.js";
import { envelope } from "../render/envelope.js";
import { formatPlan } from "../render/plan-text.js";
import { makeReporter, outputMode } from "../render/reporters.js";
import { setupSteps } from "../steps/index.js";
import { checkAgents, formatVerdict } from "../steps/agent-precondition.js";

export default class Doctor extends AegCommand {
  static override summary = "Check live state against the configuration and report drift";
  static override description = `Reads every resource setup manages and compares it with what setup would write (policies canonically, so APIM's reformatting is not drift). Writes nothing.

Also checks that every agent with a schemaName requires Entra ID sign-in (see aeg agents check).

Exit codes: 0 in sync, 1 unexpected error, 2 usage or configuration, 3 authentication or permission, 4 drift found, 5 no drift but an agent fails the sign-in precondition.`;
  static override examples = ["<%= config.bin %> doctor --sandbox", "<%= config.bin %> doctor --env prod --json"];

  static override flags = { ...environmentFlags };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(Doctor);
    const mode = outputMode(flags);
    const reporter = makeReporter(mode);
    const session = await openSession(flags, { lock: false });
    try {
      const abort = new AbortController();
      const engine = new Engine(
        setupSteps(await loadTemplates(session.templatesDir)),
        { config: session.config, cloud: session.cloud, arm: session.arm, identity: session.identity, journal: session.journal, pollIntervalMs: session.pollIntervalMs, signal: abort.signal, options: { recoverSoftDeleted: false, purgeSoftDeleted: false } },
        reporter,
      );
      const reports = await engine.plan();
      const drifted = reports.filter((r) => !["ok", "skipped", "unverifiable"].includes(r.status));
      // The agent precondition is part of the check; agents without a schema name are left out.
      const agents = session.config.agents.some((a) => a.schemaName) ? await checkAgents({ ...session.config, agents: session.config.agents.filter((a) => a.schemaName) }, session.identity) : [];
      const failedAgents = agents.filter((a) => !a.ok);
      const exitCode = drifted.length > 0 ? ExitCode.drift : failedAgents.length > 0 ? ExitCode.validation : ExitCode.ok;
      if (mode === "json") {
        process.stdout.write(`${JSON.stringify(envelope({ command: "doctor", status: drifted.length > 0 ? "drift" : failedAgents.length > 0 ? "precondition-failed" : "in-sync", exitCode, environment: session.environment, steps: reports, agents, arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes } }))}\n`);
      } else {
        formatPlan(reports).forEach((line) => reporter.say(line));
        failedAgents.flatMap(formatVerdict).forEach((line) => reporter.say(`agent precondition: ${line}`));
        reporter.say(
          drifted.length > 0
            ? `Drift in ${drifted.map((r) => r.id).join(", ")}: run \`aeg setup${flags.sandbox ? " --sandbox" : ""}\` to bring it back.`
            : "In sync: live state matches the configuration.",
        );
      }
      return exitCode;
    } finally {
      await session.close();
    }
  }
}
