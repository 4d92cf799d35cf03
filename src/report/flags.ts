import { Flags } from "@oclif/core";

/**
 * The evidence flags `validate` and `setup` share; `exclusive` names the command's flags under
 * which no validation runs (a report then could prove nothing).
 */
export function reportFlags(exclusive: string[] = []) {
  return {
    report: Flags.string({
      description: "write the validation evidence to this directory: report.html (for people) and attestation.json (an in-toto statement, for systems)",
      ...(exclusive.length > 0 ? { exclusive } : {}),
    }),
    "report-url": Flags.string({ description: "the pipeline run's URL, recorded in the evidence", dependsOn: ["report"] }),
    force: Flags.boolean({ description: "with --report, replace the report files in a directory that already holds files", dependsOn: ["report"] }),
  };
}
