import { confirm } from "@inquirer/prompts";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { applyReporting, teardownEngine } from "../app/engine.js";
import { environmentFlags } from "../app/flags.js";
import { onInterrupt, resumeCommand } from "../app/interrupt.js";
import { missingPermissions } from "../app/permissions.js";
import { configuredApimName, openSession, type Session } from "../app/session.js";
import { appliedWrites, pending, type StepReport } from "../engine/change.js";
import { refusal } from "../engine/runner.js";
import { ExitCode, UserError } from "../errors.js";
import { missingPermissionLines, permissionRefusal, type MissingPermission } from "../preflight/arm-permissions.js";
import { publicSteps } from "../render/envelope.js";
import { appliedSummary, planReport } from "../render/plan-text.js";
import { makeReporter, outputMode } from "../render/reporters.js";

interface TeardownResult extends CommandResult {
  environment: string;
  dryRun: boolean;
  purge: boolean;
  steps: ReturnType<typeof publicSteps>;
  /** Writes the plan held, and writes the apply carried out (each verified by a second read). */
  changes: { planned: number; applied: number };
  arm: { reads: number; writes: number };
  notes: string[];
  /** What teardown leaves behind on purpose, each with why. */
  leftInPlace: string[];
  /** Dry run: the ARM actions the identity lacks where the plan deletes. */
  missingPermissions?: MissingPermission[];
  error?: { message: string; hint?: string };
}

export default class Teardown extends AegCommand<TeardownResult> {
  static override summary = "Remove the gateway and what aeg made for it, in the order that leaves no orphan";
  static override description = `Plans like setup (shown, confirmed once in a terminal, applied, verified by a second read, resumable), removing only what aeg made or adopted: what is recorded in this environment's journal or tagged by aeg.

Order: the gateway identity's Microsoft Graph permissions, its Dataverse role assignments and role, its application user disabled (Dataverse cannot delete it while its identity exists), its Event Hubs Data Sender assignment; then the API with its operations and policies, the fragments, the named values, the logger; the APIM instance (soft-deleted for 48 hours; --purge frees the name); the Event Hub and namespace when aeg made them. The resource group stays.

--confirm must name the configured APIM instance: without it, or with another name, nothing is read beyond the configuration and nothing is deleted (exit 2).

Exit codes: 0 done or nothing to do, 1 unexpected error, 2 usage, confirmation or a blocked change, 3 authentication or permission.`;
  static override examples = ["<%= config.bin %> teardown --sandbox --confirm apim-aeg-sandbox --purge", "<%= config.bin %> teardown --env test --confirm apim-fsi-test --dry-run"];

  static override flags = {
    ...environmentFlags,
    confirm: Flags.string({ description: "the configured APIM instance's name, typed out: teardown deletes it and what aeg made for it" }),
    purge: Flags.boolean({ description: "purge the soft-deleted instance too, so its name is free again at once (no recovery)" }),
    "dry-run": Flags.boolean({ description: "show what would be removed and remove nothing" }),
    yes: Flags.boolean({ char: "y", description: "do not ask in a terminal (implied by --ci)" }),
  };

  protected async execute(): Promise<TeardownResult> {
    const { flags } = await this.parse(Teardown);
    // Before a session: a missing or wrong name must cost nothing but reading the configuration.
    const name = await configuredApimName(flags);
    checkConfirmation(flags.confirm, name);
    const reporter = makeReporter(outputMode(flags));
    const dryRun = Boolean(flags["dry-run"]);
    const session = await openSession(flags, { lock: !dryRun });
    const abort = new AbortController();
    const stopListening = onInterrupt(session, resumeCommand("teardown", this.argv), "an APIM deletion goes on");
    try {
      session.notes.forEach((n) => reporter.say(`note: ${n}`));
      const engine = await teardownEngine(session, reporter, { options: { recoverSoftDeleted: false, purgeSoftDeleted: Boolean(flags.purge) }, signal: abort.signal });
      reporter.say(`Reading what aeg made for ${name} (${session.cloud.sandbox ? "sandbox" : session.cloud.name}, environment ${session.environment})...`);
      const plan = await engine.plan();
      planReport(plan).forEach((line) => reporter.say(line));
      const writes = plan.flatMap((r) => pending(r.changes)).length;
      const result = (status: string, steps: StepReport[], exitCode: number = ExitCode.ok, extra: Partial<TeardownResult> = {}): TeardownResult => ({
        status,
        exitCode,
        environment: session.environment,
        dryRun,
        purge: Boolean(flags.purge),
        steps: publicSteps(steps),
        changes: { planned: writes, applied: appliedWrites(steps).length },
        arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes },
        notes: session.notes,
        leftInPlace: leftInPlace(session, steps, Boolean(flags.purge)),
        ...extra,
      });
      const refused = refusal(plan);
      // What the identity may delete where the plan deletes, asked of ARM before any write.
      const missing = writes > 0 && !refused ? await missingPermissions(session, plan) : [];
      if (dryRun) {
        missingPermissionLines(missing).forEach((line) => reporter.say(`Missing permission: ${line}`));
        reporter.say(refused ? "Dry run: nothing was removed; teardown would refuse the blocked changes above." : writes > 0 ? "Dry run: nothing was removed." : "Dry run: nothing of aeg's is left to remove.");
        return result(refused ? "blocked" : writes > 0 ? "changes-planned" : "nothing-to-do", plan, ExitCode.ok, missing.length > 0 ? { missingPermissions: missing } : {});
      }
      if (refused) {
        reporter.say(`Teardown refuses this plan: ${refused.message}`);
        if (refused.hint) reporter.say(refused.hint.replace("Nothing was written.", "Nothing was removed."));
        return result("blocked", plan, refused.exitCode, { error: { message: refused.message, ...(refused.hint ? { hint: refused.hint } : {}) } });
      }
      if (writes === 0) {
        reporter.say("Nothing to tear down: nothing aeg made for this environment is left.");
        const nothing = result("nothing-to-do", plan);
        nothing.leftInPlace.forEach((line) => reporter.say(`Left in place: ${line}`));
        return nothing;
      }
      // Every permission is checked before asking and before any write: Entra and Dataverse, then ARM.
      await engine.preflight(plan);
      if (missing.length > 0) throw permissionRefusal(missing);
      if (!(await this.confirmed(flags, name))) {
        reporter.say("Nothing was removed.");
        return result("cancelled", plan);
      }
      const { applied, failure } = await applyReporting(engine, reporter, plan, { what: "Teardown", next: `Fix the cause, then run \`${resumeCommand("teardown", this.argv)}\` to continue.` });
      if (failure) return result("failed", applied, failure.exitCode);
      reporter.say(`Teardown complete: ${appliedSummary(writes, appliedWrites(applied).length)}.`);
      const done = result("torn-down", applied);
      done.leftInPlace.forEach((line) => reporter.say(`Left in place: ${line}`));
      return done;
    } finally {
      stopListening();
      await session.close();
    }
  }

  /** Teardown reports as it goes (stderr); the result adds nothing for a person. */
  protected text(): void {}

  private async confirmed(flags: { yes: boolean; ci: boolean; json: boolean }, name: string): Promise<boolean> {
    if (flags.yes || flags.ci || flags.json) return true;
    // Without a terminal, --confirm <name> is the consent; in one, the plan is shown and asked about once.
    if (!(process.stdin.isTTY && process.stderr.isTTY)) return true;
    return confirm({ message: `Remove these from ${name}?`, default: false }, { output: process.stderr });
  }
}

/** --confirm must name the configured instance, exactly as configured. */
export function checkConfirmation(given: string | undefined, name: string): void {
  if (given === undefined) {
    throw new UserError(`teardown removes the APIM instance '${name}' and what aeg made for it: pass --confirm ${name}`, ExitCode.usage, "Nothing was read beyond the configuration, and nothing was removed.");
  }
  if (given !== name) {
    throw new UserError(`--confirm '${given}' is not the configured APIM instance '${name}'`, ExitCode.usage, "Nothing was read beyond the configuration, and nothing was removed. Check --config and --env: teardown acts on the environment they name.");
  }
}

/** What teardown leaves on purpose: said at the end of a run, and in --json. */
function leftInPlace(session: Session, steps: StepReport[], purge: boolean): string[] {
  const { config } = session;
  const outputs = (id: string) => steps.find((s) => s.id === id)?.outputs ?? {};
  const lines = [`resource group ${config.resourceGroup}: aeg never deletes a resource group (it may hold more than the gateway)`];
  const user = outputs("remove-dataverse-access");
  if (user.applicationUserId) {
    lines.push(`the Dataverse application user for appId ${user.appId ?? "?"}, disabled and without roles: Dataverse cannot delete an application user while its Entra identity exists`);
  }
  const apim = outputs("remove-apim");
  if (!purge && apim.scheduledPurgeDate) {
    lines.push(`the APIM instance ${config.apim.name}, soft-deleted until ${apim.scheduledPurgeDate}: \`aeg setup --recover-soft-deleted\` restores it; \`aeg teardown --confirm ${config.apim.name} --purge\` frees the name`);
  }
  if (config.dataverse.decisionLog.enabled) lines.push("the fsi_aegdecisionlog table and its rows: the decision record is an audit trail");
  return lines;
}
