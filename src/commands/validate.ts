import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { environmentFlags } from "../app/flags.js";
import { openSession } from "../app/session.js";
import { ExitCode } from "../errors.js";
import { prepareReportDir, reportFlags, reportValidation, type WrittenReport } from "../report/index.js";
import { validateGateway } from "../validate/gateway.js";
import { junitReport } from "../validate/junit.js";
import type { ScenarioResult } from "../validate/run.js";

interface ValidateResult extends CommandResult {
  environment: string;
  scenarios: ScenarioResult[];
  notes: string[];
  report?: WrittenReport;
}

export default class Validate extends AegCommand<ValidateResult> {
  static override summary = "Run the gateway contract's validation matrix against the live gateway";
  static override description = `For each scenario of the validation plan (aeg.yaml \`validation.scenarios\`; with --sandbox, the sandbox's personas), calls the agent's operation with that caller's token and checks the status, denyReason and anomaly, the echoed X-AEG-Correlation-Id, and that exactly one decision record with that id reached the Event Hub within the deadline. Token-failure scenarios (no token, malformed, forged, another tenant) need no caller.

With --report DIR, also writes the evidence an auditor keeps: DIR/report.html (for people) and DIR/attestation.json (an in-toto test-result statement whose subjects are the policy documents the gateway runs, by SHA-256). A directory that already holds files is refused unless --force.

Exit codes: 0 every scenario passed, 1 unexpected error, 2 usage or configuration, 3 authentication or permission, 5 a scenario failed.`;
  static override examples = ["<%= config.bin %> validate --sandbox", "<%= config.bin %> validate --env prod --junit validation.xml", "<%= config.bin %> validate --env prod --report evidence/ --report-url \"$PIPELINE_RUN_URL\""];

  static override flags = {
    ...environmentFlags,
    junit: Flags.string({ description: "also write a JUnit XML report to this file (for pipelines)" }),
    ...reportFlags(),
  };

  protected async execute(): Promise<ValidateResult> {
    const { flags } = await this.parse(Validate);
    if (flags.report) await prepareReportDir(flags.report, flags.force);
    const session = await openSession(flags, { lock: false });
    try {
      const started = Date.now();
      const { results, notes } = await validateGateway(session, { runId: randomUUID().slice(0, 8) });
      const finished = Date.now();
      if (flags.junit) await writeFile(flags.junit, junitReport(results, (finished - started) / 1000, new Date(started)));
      const report = flags.report
        ? await reportValidation(session, flags.report, { aegVersion: this.config.version, startedAt: new Date(started), finishedAt: new Date(finished), scenarios: results, ...(flags["report-url"] ? { url: flags["report-url"] } : {}) })
        : undefined;
      const failed = results.some((r) => !r.passed);
      return { status: failed ? "failed" : "passed", exitCode: failed ? ExitCode.validation : ExitCode.ok, environment: session.environment, scenarios: results, notes, ...(report ? { report } : {}) };
    } finally {
      await session.close();
    }
  }

  protected text({ scenarios, notes, report }: ValidateResult): void {
    notes.forEach((n) => process.stderr.write(`note: ${n}\n`));
    for (const r of scenarios) {
      const mark = r.passed ? "✔" : "✘";
      process.stdout.write(`${mark} ${r.name}  [${r.agentId}]  ${r.actual.status ?? "-"} ${r.actual.denyReason ?? "-"}${r.actual.anomaly ? " (anomaly)" : ""}  records: ${r.actual.records}\n`);
      for (const p of r.problems) process.stdout.write(`    ${p}\n`);
    }
    process.stdout.write(`Validation: ${scenarios.filter((r) => r.passed).length} of ${scenarios.length} scenarios passed.\n`);
    if (report) process.stdout.write(`Evidence (${report.result}): ${report.files.join(", ")}\n`);
  }
}
