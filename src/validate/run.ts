import { describeCaller, type ScenarioCaller } from "./caller.js";
import type { Expectation, Scenario, TokenPlan } from "./scenarios.js";

/** Decision records read back from the telemetry sink (the Event Hub, or the Dataverse table). */
export interface DecisionRecordSource {
  /** Waits until every id has a record or the deadline passes, then a short grace for duplicates. */
  collect(correlationIds: string[], deadlineMs: number): Promise<Map<string, Array<Record<string, unknown>>>>;
  close(): Promise<void>;
}

export interface ScenarioResult {
  name: string;
  agentId: string;
  /** Persona or token source and UPN; never the token. */
  caller: ScenarioCaller;
  correlationId: string;
  expected: Expectation;
  actual: { status?: number; denyReason?: string; anomaly?: boolean; echoedCorrelationId?: string | null; records: number; sinkRows?: number };
  passed: boolean;
  problems: string[];
  ms: number;
}

export interface ValidationRun {
  url(agentId: string): string;
  token(plan: TokenPlan): Promise<string | undefined>;
  records: DecisionRecordSource;
  /** The Dataverse table, when the sink writes there. */
  table?: DecisionRecordSource;
  deadlineMs: number;
  runId: string;
}

interface Answer {
  caller: ScenarioCaller;
  status: number;
  echoed: string | null;
  body: Record<string, unknown>;
  ms: number;
}

/** Calls every scenario, then checks each answer and its records against the contract. */
export async function runValidation(scenarios: Scenario[], run: ValidationRun): Promise<ScenarioResult[]> {
  const answers: Answer[] = [];
  const ids = scenarios.map((_, i) => `aeg-validate-${run.runId}-${i + 1}`);
  for (const [i, scenario] of scenarios.entries()) answers.push(await call(scenario, ids[i]!, run));
  const records = await run.records.collect(ids, run.deadlineMs);
  const rows = run.table ? await run.table.collect(ids, run.deadlineMs) : undefined;
  return scenarios.map((scenario, i) => judge(scenario, ids[i]!, answers[i]!, records.get(ids[i]!) ?? [], rows?.get(ids[i]!)));
}

async function call(scenario: Scenario, correlationId: string, run: ValidationRun): Promise<Answer> {
  const started = performance.now();
  const token = await run.token(scenario.token);
  const res = await fetch(run.url(scenario.agentId), {
    method: "POST",
    headers: { "content-type": "application/json", "x-aeg-correlation-id": correlationId, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ text: "aeg validate" }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // A backend's answer need not be JSON; only deny bodies are checked.
  }
  return { caller: describeCaller(scenario.token, token), status: res.status, echoed: res.headers.get("x-aeg-correlation-id"), body, ms: performance.now() - started };
}

/** Pure: compares one answer and its records with the expectation. */
function judge(scenario: Scenario, correlationId: string, answer: Answer, records: Array<Record<string, unknown>>, sinkRows?: Array<Record<string, unknown>>): ScenarioResult {
  const { expect } = scenario;
  const problems: string[] = [];
  const denyReason = answer.status === 200 ? "None" : typeof answer.body.denyReason === "string" ? answer.body.denyReason : undefined;
  if (answer.status !== expect.status) problems.push(`status ${answer.status}, expected ${expect.status}`);
  if (denyReason !== expect.denyReason) problems.push(`denyReason ${denyReason ?? "(none in body)"}, expected ${expect.denyReason}`);
  if (answer.echoed !== correlationId) problems.push(`X-AEG-Correlation-Id ${answer.echoed === null ? "missing" : `'${answer.echoed}'`}, expected '${correlationId}'`);
  if (records.length !== 1) problems.push(`${records.length} decision records with this correlation id in the Event Hub, expected exactly one`);
  const record = records[0];
  if (record) {
    if (record.anomaly !== expect.anomaly) problems.push(`record anomaly ${String(record.anomaly)}, expected ${String(expect.anomaly)}`);
    if (record.denyReason !== expect.denyReason) problems.push(`record denyReason ${String(record.denyReason)}, expected ${expect.denyReason}`);
    if (record.httpStatus !== expect.status) problems.push(`record httpStatus ${String(record.httpStatus)}, expected ${expect.status}`);
  }
  if (sinkRows && sinkRows.length !== 1) problems.push(`${sinkRows.length} rows with this correlation id in fsi_aegdecisionlog, expected exactly one${sinkRows.length === 0 ? " (is aeg sink running?)" : ""}`);
  return {
    name: scenario.name,
    agentId: scenario.agentId,
    caller: answer.caller,
    correlationId,
    expected: expect,
    actual: {
      status: answer.status,
      ...(denyReason ? { denyReason } : {}),
      ...(record ? { anomaly: record.anomaly as boolean } : {}),
      echoedCorrelationId: answer.echoed,
      records: records.length,
      ...(sinkRows ? { sinkRows: sinkRows.length } : {}),
    },
    passed: problems.length === 0,
    problems,
    ms: answer.ms,
  };
}
