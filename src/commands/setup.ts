import { randomUUID } from "node:crypto";
import { confirm } from "@inquirer/prompts";
import { Flags } from "@oclif/core";
import { AegCommand } from "../app/base-command.js";
import { environmentFlags } from "../app/flags.js";
import { openSession, type Session } from "../app/session.js";
import { SandboxGatewayUnavailable, validateGateway } from "../app/validation.js";
import type { ScenarioResult } from "../validate/run.js";
import { Engine } from "../engine/runner.js";
import type { StepReport } from "../engine/types.js";
import { ConfigError, ExitCode, UserError } from "../errors.js";
import { loadTemplates } from "../policy/templates.js";
import { envelope } from "../render/envelope.js";
import { formatPlan, planSummary } from "../render/plan-text.js";
import { makeReporter, outputMode, type Reporter } from "../render/reporters.js";
import { setupSteps } from "../steps/index.js";

export default class Setup extends AegCommand {
  static override summary = "Plan, apply and verify the gateway's setup steps; resumes by itself after an interruption";
  static override description = `Reads live state, shows the plan (create / update with field diffs / ok), asks once, applies, then reads again: a second plan must be empty.
Re-running is safe: a finished setup makes zero writes, and an interrupted one (Ctrl+C, kill -9, a lost connection) continues where Azure is.

Ends by running the validation matrix (seed step 7) unless --skip-validation.

Exit codes: 0 done or nothing to do, 1 unexpected error, 2 usage or configuration, 3 authentication or permission, 5 validation failed.`;
  static override examples = ["<%= config.bin %> setup --sandbox", "<%= config.bin %> setup --dry-run", "<%= config.bin %> setup --env prod --ci"];

  static override flags = {
    ...environmentFlags,
    "dry-run": Flags.boolean({ description: "show the plan with field-level diffs and write nothing" }),
    yes: Flags.boolean({ char: "y", description: "apply without asking (implied by --ci)" }),
    resume: Flags.boolean({ description: "accepted for clarity; every run resumes by itself" }),
    "recover-soft-deleted": Flags.boolean({ description: "restore a soft-deleted APIM service of the same name", exclusive: ["purge-soft-deleted"] }),
    "purge-soft-deleted": Flags.boolean({ description: "purge a soft-deleted APIM service of the same name, then create a new one", exclusive: ["recover-soft-deleted"] }),
    "skip-validation": Flags.boolean({ description: "do not run the validation matrix (seed step 7) after applying" }),
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
        { config: session.config, cloud: session.cloud, arm: session.arm, identity: session.identity, journal: session.journal, pollIntervalMs: session.pollIntervalMs, signal: abort.signal, options: { recoverSoftDeleted: flags["recover-soft-deleted"], purgeSoftDeleted: flags["purge-soft-deleted"] } },
        reporter,
      );
      reporter.say(`Reading live state of ${session.config.apim.name} (${session.sandbox ? "sandbox" : session.cloud.name}, environment ${session.environment})...`);
      const plan = await engine.plan();
      printPlan(reporter, plan);
      let validation: ValidationSummary | undefined;
      const done = (status: string, steps: StepReport[], exitCode: number = ExitCode.ok) => {
        if (mode === "json") {
          const env = envelope({ command: "setup", status, exitCode, environment: session.environment, dryRun, steps, arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes }, notes: session.notes });
          process.stdout.write(`${JSON.stringify(validation ? { ...env, validation } : env)}\n`);
        }
        return exitCode;
      };
      // Seed step 7, last: the contract matrix against the gateway just set up (or found in sync).
      const validate = async (status: string, steps: StepReport[]) => {
        if (flags["skip-validation"]) return done(status, steps);
        validation = await runSetupValidation(session, reporter);
        return done(validation.passed ? status : "validation-failed", steps, validation.passed ? ExitCode.ok : ExitCode.validation);
      };
      if (dryRun) {
        reporter.say(engine.hasChanges ? "Dry run: nothing was written." : "Dry run: everything is in sync.");
        return done(engine.hasChanges ? "changes-planned" : "in-sync", plan);
      }
      if (!engine.hasChanges) {
        reporter.say("Everything is in sync: nothing to do.");
        return await validate("in-sync", plan);
      }
      if (!(await this.confirmed(flags, session))) {
        reporter.say("Nothing was written.");
        return done("cancelled", plan);
      }
      await engine.preflight(); // a missing Dataverse or Graph role stops here, before any write
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
      return await validate("applied", results);
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

interface ValidationSummary {
  passed: boolean;
  skipped?: string;
  scenarios: ScenarioResult[];
}

async function runSetupValidation(session: Session, reporter: Reporter): Promise<ValidationSummary> {
  reporter.say("Validating the gateway against the contract (seed step 7)...");
  try {
    const { results, notes } = await validateGateway(session, { runId: randomUUID().slice(0, 8) });
    notes.forEach((n) => reporter.say(`note: ${n}`));
    const failed = results.filter((r) => !r.passed);
    for (const r of failed) reporter.say(`  ✘ ${r.name} [${r.agentId}]: ${r.problems.join("; ")}`);
    reporter.say(`Validation: ${results.length - failed.length} of ${results.length} scenarios passed.`);
    return { passed: failed.length === 0, scenarios: results };
  } catch (err) {
    // Setup itself succeeded; validation cannot run here. Say why and how to fix it.
    if (err instanceof SandboxGatewayUnavailable) {
      reporter.say(`Validation skipped: ${err.message.replace(/^validation: /, "")}. ${err.hint ?? ""}`.trim());
      return { passed: true, skipped: "sandbox gateway unavailable", scenarios: [] };
    }
    // No plan is not a failed setup: say how to add one.
    if (err instanceof ConfigError && err.problems[0]?.startsWith("validation.scenarios: no validation plan")) {
      reporter.say("Validation skipped: no validation plan (add validation.scenarios to aeg.yaml, or pass --skip-validation).");
      return { passed: true, skipped: "no validation plan", scenarios: [] };
    }
    throw err;
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
