import type { ScenarioResult } from "./run.js";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A JUnit XML report (one test case per scenario), as CI systems read it. Pure. */
export function junitReport(results: ScenarioResult[], seconds: number, timestamp: Date): string {
  const failures = results.filter((r) => !r.passed).length;
  const cases = results.map((r) => {
    const head = `    <testcase classname="aeg.validate.${esc(r.agentId)}" name="${esc(r.name)}" time="${(r.ms / 1000).toFixed(3)}"`;
    if (r.passed) return `${head} />`;
    return `${head}>\n      <failure message="${esc(r.problems[0] ?? "failed")}" type="ContractViolation">${esc(r.problems.join("\n"))}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="aeg validate" tests="${results.length}" failures="${failures}" time="${seconds.toFixed(3)}">`,
    `  <testsuite name="gateway contract" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${seconds.toFixed(3)}" timestamp="${timestamp.toISOString()}">`,
    ...cases,
    "  </testsuite>",
    "</testsuites>",
    "",
  ].join("\n");
}
