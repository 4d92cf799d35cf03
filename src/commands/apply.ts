import { readFile } from "node:fs/promises";
import { Args, Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { applyReporting, setupEngine } from "../app/engine.js";
import { missingPermissions } from "../app/permissions.js";
import { openSession } from "../app/session.js";
import { signedIn, type SignedIn } from "../azure/signed-in.js";
import { planFileProblem, staleResources, type PlanFile } from "../change-control/plan-file.js";
import { appliedWrites, pending } from "../engine/change.js";
import type { AppliedPlan } from "../engine/journal.js";
import { ConfigError, ExitCode, UserError } from "../errors.js";
import { permissionRefusal } from "../preflight/arm-permissions.js";
import { publicSteps } from "../render/envelope.js";
import { policyDigests } from "../report/collect.js";
import { appliedSummary, planReport } from "../render/plan-text.js";
import { makeReporter, outputMode } from "../render/reporters.js";

interface ApplyResult extends CommandResult {
  environment: string;
  planDigest: string;
  changeId?: string;
  planner: SignedIn;
  applier?: SignedIn;
  plannedAt: string;
  appliedAt?: string;
  /** Stale plans: one line per resource that changed since the plan was made. */
  stale?: string[];
  steps: ReturnType<typeof publicSteps>;
  arm: { reads: number; writes: number };
  error?: { message: string; hint?: string };
}

const NEW_PLAN = "Make a new plan (aeg plan --out FILE), have it reviewed, and apply that.";

export default class Apply extends AegCommand<ApplyResult> {
  static override summary = "Apply exactly the changes of a saved plan, or refuse it when it went stale";
  static override description = `Applies the plan file \`aeg plan --out\` wrote, with the configuration and templates captured in it (not the files on disk). Before its first write it reads live state again and refuses the plan when anything it saw has changed since (someone else's edit, or the plan already applied), when it was made by another aeg version, or when the file was altered. A blocked change is refused before any write. After applying, a second read must find nothing left to do, as in \`aeg setup\`. The journal records the plan's digest, change id, planner and applier.

Exit codes: 0 applied, 1 unexpected error, 2 usage (not a plan file), 3 authentication or permission, 4 the plan is stale, altered, from another aeg version, or already applied: make a new plan.`;
  static override examples = ["<%= config.bin %> apply plan.json --ci", "<%= config.bin %> apply plan.json --sandbox --json"];

  static override args = { file: Args.string({ description: "the plan file `aeg plan --out` wrote", required: true }) };

  static override flags = {
    sandbox: Flags.boolean({ description: "apply to the embedded local tenant (for a plan made with --sandbox)" }),
    "sandbox-dir": Flags.string({ description: "where the sandbox keeps its tenant (default: .aeg/sandbox)", dependsOn: ["sandbox"] }),
    ci: Flags.boolean({ description: "pipeline mode: plain log lines on stderr (apply never prompts: the plan was the review)" }),
  };

  protected async execute(): Promise<ApplyResult> {
    const { args, flags } = await this.parse(Apply);
    const plan = await readPlan(args.file, this.config.version);
    const reporter = makeReporter(outputMode(flags));
    const session = await openSession(flags, { lock: true, captured: { value: plan.configuration.value, dir: plan.configuration.dir, environment: plan.environment } });
    try {
      const base = { environment: session.environment, planDigest: plan.digest, ...(plan.changeId ? { changeId: plan.changeId } : {}), planner: plan.planner, plannedAt: plan.createdAt };
      const result = (status: string, exitCode: number, extra: Partial<ApplyResult> = {}): ApplyResult => ({
        status,
        exitCode,
        ...base,
        steps: publicSteps(plan.steps),
        arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes },
        ...extra,
      });
      const refuse = (message: string, hint: string, extra: Partial<ApplyResult> = {}) => {
        reporter.say(`Apply refuses ${args.file}: ${message}`);
        reporter.say(hint);
        return result("refused", ExitCode.drift, { error: { message, hint }, ...extra });
      };
      if (session.journal.lastApply?.planDigest === plan.digest) {
        return refuse(`this plan was already applied (${session.journal.lastApply.appliedAt})`, NEW_PLAN);
      }
      reporter.say(`Plan ${plan.digest}${plan.changeId ? ` for ${plan.changeId}` : ""}, made by ${plan.planner.name} at ${plan.createdAt}.`);
      planReport(plan.steps).forEach((line) => reporter.say(line));

      const abort = new AbortController();
      const engine = await setupEngine(session, reporter, { options: plan.options, signal: abort.signal, templates: plan.templates.value });
      reporter.say("Reading live state again to check the plan still fits...");
      const stale = staleResources(plan.steps, await engine.plan());
      if (stale.length > 0) {
        stale.forEach((line) => reporter.say(`  stale: ${line}`));
        return refuse(`${stale.length} resource${stale.length === 1 ? "" : "s"} changed since the plan was made (an edit by someone else, or this plan already applied); nothing was written`, NEW_PLAN, { stale });
      }
      const writes = plan.steps.flatMap((s) => pending(s.changes)).length;
      const applier = await signedIn(session.credential, session.cloud);
      if (writes === 0) {
        reporter.say("The plan has nothing to change, and nothing changed since: done.");
        return result("in-sync", ExitCode.ok, { applier });
      }
      // Every permission is checked before any write (exit 3): Dataverse and Graph, then ARM.
      await engine.preflight(plan.steps);
      const missing = await missingPermissions(session, plan.steps);
      if (missing.length > 0) throw permissionRefusal(missing);
      // The engine refuses a blocked change before any write.
      const { applied, failure } = await applyReporting(engine, reporter, plan.steps, { what: "Apply", next: `Part of the plan was applied. ${NEW_PLAN}` });
      // What runs in APIM now, for the audit report to hold its policy digests against.
      const digests = failure ? undefined : await policyDigests(session);
      const record: AppliedPlan = {
        planDigest: plan.digest,
        ...(plan.changeId ? { changeId: plan.changeId } : {}),
        planner: plan.planner,
        applier,
        plannedAt: plan.createdAt,
        appliedAt: new Date().toISOString(),
        outcome: failure ? "failed" : "applied",
        ...(digests ? { policyDigests: digests } : {}),
      };
      await session.journal.recordApply(record);
      const done = { applier, appliedAt: record.appliedAt, steps: publicSteps(applied) };
      if (failure) return { ...result("failed", failure.exitCode), ...done, error: { message: failure.error.message, hint: NEW_PLAN } };
      reporter.say(`Applied: ${appliedSummary(writes, appliedWrites(applied).length)}.`);
      return { ...result("applied", ExitCode.ok), ...done };
    } finally {
      await session.close();
    }
  }

  protected text(): void {}
}

/** Reads and checks a plan file: exit 2 when it is not one, 4 when it is altered or from another aeg. */
async function readPlan(file: string, aegVersion: string): Promise<PlanFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : err instanceof SyntaxError ? "not JSON" : (err as Error).message;
    throw new ConfigError([`${file}: ${why}`], "Pass the file `aeg plan --out` wrote.");
  }
  const problem = planFileProblem(raw, aegVersion);
  if (problem?.exitCode === 2) throw new ConfigError([`${file}: ${problem.problem}`]);
  if (problem) throw new UserError(`${file}: ${problem.problem}; nothing was written`, ExitCode.drift, NEW_PLAN);
  return raw as PlanFile;
}
