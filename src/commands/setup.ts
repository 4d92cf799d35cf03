import { confirm } from "@inquirer/prompts";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { applyReporting, setupEngine } from "../app/engine.js";
import { environmentFlags } from "../app/flags.js";
import { onInterrupt, resumeCommand } from "../app/interrupt.js";
import { missingPermissions } from "../app/permissions.js";
import { openSession, type Session } from "../app/session.js";
import { appliedWrites, pending, type StepReport } from "../engine/change.js";
import { refusal } from "../engine/runner.js";
import { missingPermissionLines, permissionRefusal, type MissingPermission } from "../preflight/arm-permissions.js";
import { ExitCode, UserError } from "../errors.js";
import { publicSteps } from "../render/envelope.js";
import { appliedSummary, planReport } from "../render/plan-text.js";
import { makeReporter, outputMode } from "../render/reporters.js";
import { prepareReportDir, reportFlags, reportValidation, type WrittenReport } from "../report/index.js";
import { validateAfterSetup, type ValidationSummary } from "../validate/gateway.js";

interface SetupResult extends CommandResult {
  environment: string;
  dryRun: boolean;
  steps: ReturnType<typeof publicSteps>;
  /** Writes the plan held, and writes the apply carried out (each verified by a second read). */
  changes: { planned: number; applied: number };
  arm: { reads: number; writes: number };
  notes: string[];
  validation?: ValidationSummary;
  /** ARM actions the plan needs that the signed-in identity does not hold (shown by --dry-run). */
  missingPermissions?: MissingPermission[];
  report?: WrittenReport;
  error?: { message: string; hint?: string };
}

export default class Setup extends AegCommand<SetupResult> {
  static override summary = "Plan, apply and verify the gateway's setup steps; resumes by itself after an interruption";
  static override description = `Reads live state, shows the plan (create / update with field diffs / ok / blocked), asks once, applies, then reads again: a second plan must be empty.
Re-running is safe: a finished setup makes zero writes, and an interrupted one (Ctrl+C, kill -9, a lost connection) continues where Azure is.
A plan holding a blocked change (something aeg will not do, such as changing a hub's partition count) is refused before the first write.

Ends by running the validation matrix (seed step 7) unless --skip-validation; with --report DIR it also writes the evidence (report.html, attestation.json), as aeg validate --report does.

Exit codes: 0 done or nothing to do, 1 unexpected error, 2 usage or configuration, 3 authentication or permission, 4 a blocked change is drift a person must resolve, 5 validation failed.`;
  static override examples = ["<%= config.bin %> setup --sandbox", "<%= config.bin %> setup --dry-run", "<%= config.bin %> setup --env prod --ci"];

  static override flags = {
    ...environmentFlags,
    "dry-run": Flags.boolean({ description: "show the plan with field-level diffs and write nothing" }),
    yes: Flags.boolean({ char: "y", description: "apply without asking (implied by --ci)" }),
    resume: Flags.boolean({ description: "accepted for clarity; every run resumes by itself" }),
    "recover-soft-deleted": Flags.boolean({ description: "restore a soft-deleted APIM service of the same name", exclusive: ["purge-soft-deleted"] }),
    "purge-soft-deleted": Flags.boolean({ description: "purge a soft-deleted APIM service of the same name, then create a new one", exclusive: ["recover-soft-deleted"] }),
    "skip-validation": Flags.boolean({ description: "do not run the validation matrix (seed step 7) after applying" }),
    ...reportFlags(["dry-run", "skip-validation"]),
  };

  protected async execute(): Promise<SetupResult> {
    const { flags } = await this.parse(Setup);
    const reporter = makeReporter(outputMode(flags));
    const dryRun = Boolean(flags["dry-run"]);
    if (flags.report) await prepareReportDir(flags.report, flags.force);
    const session = await openSession(flags, { lock: !dryRun });
    const abort = new AbortController();
    const stopListening = onInterrupt(session, resumeCommand("setup", this.argv), "an APIM creation goes on for its full time");
    try {
      session.notes.forEach((n) => reporter.say(`note: ${n}`));
      const options = { recoverSoftDeleted: flags["recover-soft-deleted"], purgeSoftDeleted: flags["purge-soft-deleted"] };
      const engine = await setupEngine(session, reporter, { options, signal: abort.signal });
      reporter.say(`Reading live state of ${session.config.apim.name} (${session.cloud.sandbox ? "sandbox" : session.cloud.name}, environment ${session.environment})...`);
      const plan = await engine.plan();
      planReport(plan).forEach((line) => reporter.say(line));
      const writes = plan.flatMap((r) => pending(r.changes)).length;
      const result = (status: string, steps: StepReport[], exitCode: number = ExitCode.ok, extra: Partial<SetupResult> = {}): SetupResult => ({
        status,
        exitCode,
        environment: session.environment,
        dryRun,
        steps: publicSteps(steps),
        changes: { planned: writes, applied: appliedWrites(steps).length },
        arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes },
        notes: session.notes,
        ...extra,
      });
      // Seed step 7, last: the contract matrix against the gateway just set up (or found in sync).
      const validate = async (status: string, steps: StepReport[]) => {
        if (flags["skip-validation"]) return result(status, steps);
        const startedAt = new Date();
        const validation = await validateAfterSetup(session, reporter);
        const report = flags.report
          ? await reportValidation(session, flags.report, { aegVersion: this.config.version, startedAt, finishedAt: new Date(), scenarios: validation.scenarios, ...(validation.skipped ? { skipped: validation.skipped } : {}), ...(flags["report-url"] ? { url: flags["report-url"] } : {}) })
          : undefined;
        if (report) reporter.say(`Evidence (${report.result}): ${report.files.join(", ")}`);
        return result(validation.passed ? status : "validation-failed", steps, validation.passed ? ExitCode.ok : ExitCode.validation, { validation, ...(report ? { report } : {}) });
      };
      const refused = refusal(plan);
      // What the identity may do where the plan writes, asked of ARM before any write.
      const missing = writes > 0 ? await missingPermissions(session, plan) : [];
      if (dryRun) {
        missingPermissionLines(missing).forEach((line) => reporter.say(`Missing permission: ${line}`));
        reporter.say(refused ? "Dry run: nothing was written; setup would refuse the blocked changes above." : writes > 0 ? "Dry run: nothing was written." : "Dry run: everything is in sync.");
        return result(refused ? "blocked" : writes > 0 ? "changes-planned" : "in-sync", plan, ExitCode.ok, missing.length > 0 ? { missingPermissions: missing } : {});
      }
      if (refused) {
        reporter.say(`Setup refuses this plan: ${refused.message}`);
        if (refused.hint) reporter.say(refused.hint);
        return result("blocked", plan, refused.exitCode, { error: { message: refused.message, ...(refused.hint ? { hint: refused.hint } : {}) } });
      }
      if (writes === 0) {
        reporter.say("Everything is in sync: nothing to do.");
        return await validate("in-sync", plan);
      }
      // Every permission is checked before asking and before any write: Dataverse and Graph first,
      // then what ARM grants where the plan writes.
      await engine.preflight(plan);
      if (missing.length > 0) throw permissionRefusal(missing);
      if (!(await this.confirmed(flags, session))) {
        reporter.say("Nothing was written.");
        return result("cancelled", plan);
      }
      const { applied, failure } = await applyReporting(engine, reporter, plan, { what: "Setup", next: `Fix the cause, then run \`${resumeCommand("setup", this.argv)}\` to continue.` });
      if (failure) return result("failed", applied, failure.exitCode);
      reporter.say(`Setup complete: ${appliedSummary(writes, appliedWrites(applied).length)}.`);
      return await validate("applied", applied);
    } finally {
      stopListening();
      await session.close();
    }
  }

  /** Setup reports as it goes (stderr); the result adds nothing for a person. */
  protected text(): void {}

  private async confirmed(flags: { yes: boolean; ci: boolean; json: boolean }, session: Session): Promise<boolean> {
    if (flags.yes || flags.ci) return true;
    const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY) && !flags.json;
    if (interactive) return confirm({ message: "Apply these changes?", default: true }, { output: process.stderr });
    // Nothing real is at stake in the sandbox; against Azure, a run that cannot ask must be told.
    if (session.sandbox) return true;
    throw new UserError("confirmation needed but there is no terminal to ask in", ExitCode.usage, "Pass --yes (or --ci in a pipeline) to apply without asking.");
  }
}
