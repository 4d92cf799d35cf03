import { existsSync } from "node:fs";
import path from "node:path";
import { Flags } from "@oclif/core";
import writeFileAtomic from "write-file-atomic";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { NO_SOFT_DELETE_CHOICE, setupEngine } from "../app/engine.js";
import { environmentFlags } from "../app/flags.js";
import { missingPermissions } from "../app/permissions.js";
import { openSession } from "../app/session.js";
import { signedIn, type SignedIn } from "../azure/signed-in.js";
import { sealPlan } from "../change-control/plan-file.js";
import { pending } from "../engine/change.js";
import { refusal } from "../engine/runner.js";
import { missingPermissionLines, type MissingPermission } from "../preflight/arm-permissions.js";
import { ConfigError, ExitCode } from "../errors.js";
import { loadTemplates } from "../policy/templates.js";
import { publicSteps } from "../render/envelope.js";
import { planReport } from "../render/plan-text.js";
import { makeReporter, outputMode } from "../render/reporters.js";

interface PlanResult extends CommandResult {
  environment: string;
  changeId?: string;
  planner: SignedIn;
  /** The plan file written (--out), with its digest: what a change board approves. */
  file?: { path: string; digest: string };
  steps: ReturnType<typeof publicSteps>;
  /** ARM actions the plan needs that the planner does not hold: `aeg apply` by the same identity would stop on them. */
  missingPermissions: MissingPermission[];
  arm: { reads: number; writes: number };
}

export default class Plan extends AegCommand<PlanResult> {
  static override summary = "Read live state and show (and with --out, save) the plan that `aeg apply` will carry out exactly";
  static override description = `Shows the same plan as \`aeg setup --dry-run\`. With --out it writes a plan file: versioned JSON with the aeg version, the environment, the configuration and templates it was made from (with digests), who planned it (object id and name from the token, never the token), when, the change id, and every change with what was seen live (an ETag, else a digest). It holds no secret value. \`aeg apply FILE\` applies exactly that plan, or refuses it if anything it saw has changed since.

Exit codes: 0 planned (whether or not there are changes), 1 unexpected error, 2 usage or configuration (including an existing --out file without --force), 3 authentication or permission.`;
  static override examples = ["<%= config.bin %> plan --out plan.json --change-id CHG-1234", "<%= config.bin %> plan --sandbox --out plan.json"];

  static override flags = {
    ...environmentFlags,
    out: Flags.string({ char: "o", description: "write the plan file here (for `aeg apply`)" }),
    "change-id": Flags.string({ description: "the change ticket this plan belongs to (recorded in the plan and, once applied, in the journal)" }),
    force: Flags.boolean({ description: "overwrite an existing --out file" }),
    "recover-soft-deleted": Flags.boolean({ description: "plan to restore a soft-deleted APIM service of the same name", exclusive: ["purge-soft-deleted"] }),
    "purge-soft-deleted": Flags.boolean({ description: "plan to purge a soft-deleted APIM service of the same name, then create a new one", exclusive: ["recover-soft-deleted"] }),
  };

  protected async execute(): Promise<PlanResult> {
    const { flags } = await this.parse(Plan);
    const out = flags.out ? path.resolve(flags.out) : undefined;
    if (out && existsSync(out) && !flags.force) throw new ConfigError([`--out: ${flags.out} already exists`], "Pass --force to replace it, or choose another file.");
    if (flags["change-id"] !== undefined && !/^[\w.:/#-]{1,100}$/.test(flags["change-id"])) {
      throw new ConfigError(["--change-id: 1 to 100 letters, digits and . _ : / # -"], "Use the id of the change ticket, e.g. CHG0012345.");
    }
    const reporter = makeReporter(outputMode(flags));
    const session = await openSession(flags, { lock: false });
    try {
      const options = flags["recover-soft-deleted"] || flags["purge-soft-deleted"] ? { recoverSoftDeleted: flags["recover-soft-deleted"], purgeSoftDeleted: flags["purge-soft-deleted"] } : NO_SOFT_DELETE_CHOICE;
      const templates = await loadTemplates(session.templatesDir);
      const engine = await setupEngine(session, reporter, { options, signal: new AbortController().signal, templates });
      const [plan, planner] = await Promise.all([engine.plan(), signedIn(session.credential, session.cloud)]);
      planReport(plan).forEach((line) => reporter.say(line));
      const refused = refusal(plan);
      const status = refused ? "blocked" : plan.some((r) => pending(r.changes).length > 0) ? "changes-planned" : "in-sync";
      const missing = status === "changes-planned" ? await missingPermissions(session, plan) : [];
      missingPermissionLines(missing).forEach((line) => reporter.say(`Missing permission: ${line}`));
      let file: PlanResult["file"];
      if (out) {
        const sealed = sealPlan({
          aegVersion: this.config.version,
          environment: session.environment,
          createdAt: new Date().toISOString(),
          ...(flags["change-id"] ? { changeId: flags["change-id"] } : {}),
          planner,
          status,
          // Relative to the working directory, so a pipeline's apply job finds the same files.
          configuration: { dir: path.relative(process.cwd(), session.configDir) || ".", value: session.config },
          templates,
          options,
          steps: plan,
        });
        await writeFileAtomic(out, `${JSON.stringify(sealed, null, 2)}\n`, { mode: 0o644 });
        file = { path: out, digest: sealed.digest };
        reporter.say(`Plan saved to ${flags.out} (${sealed.digest}). Apply it with: aeg apply ${flags.out}`);
      }
      if (refused) reporter.say(`Blocked: ${refused.message.split("\n").length} change(s) aeg will not make; \`aeg apply\` would refuse this plan. ${refused.hint ?? ""}`.trim());
      return {
        status,
        exitCode: ExitCode.ok,
        environment: session.environment,
        ...(flags["change-id"] ? { changeId: flags["change-id"] } : {}),
        planner,
        ...(file ? { file } : {}),
        steps: publicSteps(plan),
        missingPermissions: missing,
        arm: { reads: session.arm.counter.reads, writes: session.arm.counter.writes },
      };
    } finally {
      await session.close();
    }
  }

  protected text(): void {}
}
