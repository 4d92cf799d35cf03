import { confirm } from "@inquirer/prompts";
import { Flags } from "@oclif/core";
import { AegCommand } from "../app/base-command.js";
import { environmentFlags } from "../app/flags.js";
import { openSession, type Session } from "../app/session.js";
import { Engine } from "../engine/runner.js";
import type { StepReport } from "../engine/types.js";
import { ExitCode, UserError } from "../errors.js";
import { loadTemplates } from "../policy/templates.js";
import { envelope } from "../render/envelope.js";
import { formatPlan, planSummary } from "../render/plan-text.js";
import { makeReporter, outputMode, type Reporter } from "../render/reporters.js";
import { setupSteps } from "../steps/index.js";

export default class Setup extends AegCommand {
  static override summary = "Plan, apply and verify the gateway's setup steps; resumes by itself after an interruption";
  static override description = `Reads live state, shows the plan (create / update with field diffs / ok), asks once, applies, then reads again: a second plan must be empty.
Re-running is safe: a finished setup makes zero writes, and an interrupted one (Ctrl+C, kill -9, a lost connection) continues where Azure is.

Exit codes: 0 done or nothing to do, 1 unexpected error, 2 usage or configuration, 3 authentication or permission.`;
  static override examples = ["<%= config.bin %> setup --sandbox", "<%= config.bin %> setup --dry-run", "<%= config.bin %> setup --env prod --ci"];

  static override flags = {
    ...environmentFlags,
    "dry-run": Flags.boolean({ description: "show the plan with field-level diffs and write nothing" }),
    yes: Flags.boolean({ char: "y", description: "apply without asking (implied by --ci)" }),
    resume: Flags.boolean({ description: "accepted for clarity; every run resumes by itself" }),
    "recover-soft-deleted": Flags.boolean({ description: "restore a soft-deleted APIM service of the same name", exclusive: ["purge-soft-deleted"] }),
    "purge-soft-deleted": Flags.boolean({ description: "purge a soft-deleted APIM service of the same name, then create a new one", exclusive: ["recover-soft-deleted"] }),
  };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(Setup);
    const mode = outputMode(flags);
    const reporter = makeReporter(mode);
    const dryRun = flags["dry-run"];
    const session = await openSession(flags, { lock: !dryRun });
    const abort = new AbortController();
    const onInterrupt = () => interrupted(session, this.argv);
    process.once("SIGINT", onInterrupt);
    try {
      session.notes.forEach((n) => reporter.say(`note: ${n}`));
      const steps = setupSteps(await loadTemplates(session.templatesDir));
      const engine = new Engine(
        steps,
        { config: session.config, cloud: session.cloud, arm: session.arm, journal: session.journal, pollIntervalMs: session.pollIntervalMs, signal: abort.signal, options: { recoverSoftDeleted: flags["recover-soft-deleted"], purgeSoftDeleted: flags["purge-soft-deleted"] } },
        reporter,
      );
      reporter.say(`Reading live state of ${session.config.apim.name} (${session.sandbox ? "sandbox" : session.cloud.name}, environment ${session.environment})...`);
      const plan = await engine.plan();
      printPlan(reporter, plan);
      const done = (status: string, steps: StepReport[], exitCode: number = ExitCode.ok) => {
        if (mode === "json") process.stdout.write(`${JSON.stringify(envelope({ command: "setup", status, exitCode, environment: session.environment, dryRun, steps, arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes }, notes: session.notes }))}\n`);
        return exitCode;
      };
      if (dryRun) {
        reporter.say(engine.hasChanges ? "Dry run: nothing was written." : "Dry run: everything is in sync.");
        return done(engine.hasChanges ? "changes-planned" : "in-sync", plan);
      }
      if (!engine.hasChanges) {
        reporter.say("Everything is in sync: nothing to do.");
        return done("in-sync", plan);
      }
      if (!(await this.confirmed(flags, session))) {
        reporter.say("Nothing was written.");
        return done("cancelled", plan);
      }
      reporter.beginApply(steps);
      const results = await engine.apply();
      await reporter.endApply();
      const failure = engine.firstFailure;
      if (failure) {
        reporter.say(`Setup stopped: ${failure.message}`);
        if (failure instanceof UserError && failure.hint) reporter.say(failure.hint);
        reporter.say(`Fix the cause, then run \`${resumeCommand(this.argv)}\` to continue.`);
        return done("failed", results, failure instanceof UserError ? failure.exitCode : ExitCode.unexpected);
      }
      const applied = plan.flatMap((r) => r.changes).filter((c) => c.action !== "ok" && c.action !== "unverifiable").length;
      reporter.say(`Setup complete: ${applied} change${applied === 1 ? "" : "s"} applied and verified by a second read.`);
      return done("applied", results);
    } finally {
      process.off("SIGINT", onInterrupt);
      await session.close();
    }
  }

  private async confirmed(flags: { yes: boolean; ci: boolean; json: boolean }, session: Session): Promise<boolean> {
    if (flags.yes || flags.ci) return true;
    const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY) && !flags.json;
    if (interactive) return confirm({ message: "Apply these changes?", default: true }, { output: process.stderr });
    // Nothing real is at stake in the sandbox; against Azure, a run that cannot ask must be told.
    if (session.sandbox) return true;
    throw new UserError("confirmation needed but there is no terminal to ask in", ExitCode.usage, "Pass --yes (or --ci in a pipeline) to apply without asking.");
  }
}

function printPlan(reporter: Reporter, plan: StepReport[]): void {
  reporter.say("Plan:");
  formatPlan(plan).forEach((line) => reporter.say(`  ${line}`));
  reporter.say(`  ${planSummary(plan)}`);
}

function resumeCommand(argv: string[]): string {
  const kept = argv.filter((a) => a !== "--dry-run");
  return ["aeg setup", ...kept].join(" ");
}

/** Ctrl+C: say at once what it means, release the lock, and leave Azure to finish. */
function interrupted(session: Session, argv: string[]): void {
  process.stderr.write(
    `\nInterrupted. Azure keeps working on any operation already started (an APIM creation goes on for its full time).\nRun \`${resumeCommand(argv)}\` to resume: it re-attaches to what is in flight.\n`,
  );
  void session.close().finally(() => process.exit(130));
}
