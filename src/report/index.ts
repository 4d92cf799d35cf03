import type { Session } from "../app/session.js";
import { collectEvidence, type ValidationRunFacts } from "./collect.js";
import { writeReport, type WrittenReport } from "./write.js";

export { prepareReportDir, type WrittenReport } from "./write.js";
export { reportFlags } from "./flags.js";

/** After a validation run: read what ran and who may do what, then write both files. */
export async function reportValidation(session: Session, dir: string, run: ValidationRunFacts): Promise<WrittenReport> {
  return writeReport(dir, await collectEvidence(session, run));
}
