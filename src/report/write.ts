import { mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import writeFileAtomic from "write-file-atomic";
import { ExitCode, UserError } from "../errors.js";
import { testResultStatement } from "./attestation.js";
import { resultOf, type Evidence, type TestResult } from "./evidence.js";
import { reportHtml } from "./html.js";

export const REPORT_FILES = { html: "report.html", attestation: "attestation.json" } as const;

/**
 * Refuses, before anything runs, a report directory that already holds files (evidence is not
 * silently overwritten) unless --force, and a path that is not a directory.
 */
export async function prepareReportDir(dir: string, force: boolean): Promise<void> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!info) return;
  if (!info.isDirectory()) throw new UserError(`--report: ${dir} exists and is not a directory`, ExitCode.usage, "Name a new or empty directory for the report.");
  const entries = await readdir(dir);
  if (entries.length > 0 && !force) {
    throw new UserError(`--report: ${dir} already holds files (${entries.slice(0, 3).join(", ")}${entries.length > 3 ? ", …" : ""}); evidence is never overwritten by default`, ExitCode.usage, "Name a new directory, or pass --force to replace report.html and attestation.json there.");
  }
}

export interface WrittenReport {
  dir: string;
  files: string[];
  result: TestResult;
}

/** Writes both files, each atomically (a reader never sees half a file), mode 0644. */
export async function writeReport(dir: string, evidence: Evidence): Promise<WrittenReport> {
  const statement = `${JSON.stringify(testResultStatement(evidence), null, 2)}\n`;
  const html = reportHtml(evidence);
  assertNoToken(statement);
  assertNoToken(html);
  await mkdir(dir, { recursive: true });
  const attestationFile = path.join(dir, REPORT_FILES.attestation);
  const htmlFile = path.join(dir, REPORT_FILES.html);
  await writeFileAtomic(attestationFile, statement, { mode: 0o644 });
  await writeFileAtomic(htmlFile, html, { mode: 0o644 });
  return { dir, files: [htmlFile, attestationFile], result: resultOf(evidence) };
}

/**
 * Evidence is handed around and kept for years: a bearer token in it would be a leak. Nothing aeg
 * puts in the evidence is a token, so one here is a bug, and the report is refused.
 */
function assertNoToken(text: string): void {
  if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/.test(text)) {
    throw new UserError("report: refusing to write evidence that contains what looks like a bearer token", ExitCode.unexpected, "Report this as a bug; no report was written.");
  }
}
