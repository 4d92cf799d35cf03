import { CHANNEL, DECISION, DENY_REASON, PATHWAY, RAW_CONTEXT_MAX } from "../dataverse/decision-log-table.js";

/** One `fsi_aegdecisionlog` row, as the Web API takes it (choices as integers, never labels). */
export interface DecisionRow {
  fsi_name: string;
  fsi_correlationid: string;
  fsi_decisiontime: string;
  fsi_agentid: string;
  fsi_userobjectid: string | null;
  fsi_channel: number;
  fsi_pathway: number;
  fsi_decision: number;
  fsi_denyreason: number;
  fsi_httpstatus: number;
  fsi_anomaly: boolean;
  fsi_policyversion: string;
  fsi_gatewayinstance: string;
  fsi_rawcontext: string;
}

export type Parsed = { ok: true; row: DecisionRow } | { ok: false; reason: string; correlationId?: string };

const CHANNELS: Record<string, number> = { "custom-web": CHANNEL.options.CustomWeb, "direct-line": CHANNEL.options.DirectLine };
const PATHWAYS: Record<string, number> = {
  none: PATHWAY.options.None,
  "mcp-cs": PATHWAY.options.McpCopilotStudio,
  "mcp-agentbuilder": PATHWAY.options.McpAgentBuilder,
  "api-direct": PATHWAY.options.ApiDirect,
  metered: PATHWAY.options.Metered,
  unmapped: PATHWAY.options.Unmapped,
};
const DECISIONS: Record<string, number> = DECISION.options;
const DENY_REASONS: Record<string, number> = DENY_REASON.options;

/** Event bodies arrive as text (the gateway's log-to-eventhub), bytes, or an already-decoded value. */
function bodyText(body: unknown): string | undefined {
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString("utf8");
  return undefined;
}

const isText = (v: unknown, max: number): v is string => typeof v === "string" && v.length > 0 && v.length <= max;

/**
 * An event → the row it becomes, or why it cannot be one (a poison event). Pure. The contract's
 * one lenient case: an unknown pathway is stored as Unmapped with the anomaly flag set.
 */
export function toDecisionRow(body: unknown): Parsed {
  const text = bodyText(body);
  let record: unknown;
  if (text !== undefined) {
    try {
      record = JSON.parse(text);
    } catch {
      return { ok: false, reason: "not JSON" };
    }
  } else record = body;
  if (!record || typeof record !== "object" || Array.isArray(record)) return { ok: false, reason: "not a JSON object" };
  const r = record as Record<string, unknown>;
  const raw = text ?? JSON.stringify(r);
  const id = r["correlationId"];
  // The key goes into a URL: the contract's ids are short tokens or request GUIDs, never control characters.
  if (!isText(id, 200) || /[\u0000-\u001f]/.test(id)) return { ok: false, reason: "correlationId missing or not 1-200 printable characters" };
  const fail = (reason: string): Parsed => ({ ok: false, reason, correlationId: id });
  if (r["schemaVersion"] !== 1) return fail(`schemaVersion ${JSON.stringify(r["schemaVersion"] ?? null)} is not 1`);
  if (typeof r["decisionTime"] !== "string" || Number.isNaN(Date.parse(r["decisionTime"]))) return fail("decisionTime is not a date-time");
  if (!isText(r["agentId"], 200)) return fail("agentId missing or over 200 characters");
  const oid = r["userObjectId"] ?? null;
  if (oid !== null && (typeof oid !== "string" || oid.length > 100)) return fail("userObjectId is neither null nor text of at most 100 characters");
  const channel = CHANNELS[String(r["channel"])];
  if (channel === undefined) return fail(`channel ${JSON.stringify(r["channel"] ?? null)} is not custom-web or direct-line`);
  const decision = DECISIONS[String(r["decision"])];
  if (decision === undefined) return fail(`decision ${JSON.stringify(r["decision"] ?? null)} is not Allow or Deny`);
  const denyReason = DENY_REASONS[String(r["denyReason"])];
  if (denyReason === undefined) return fail(`denyReason ${JSON.stringify(r["denyReason"] ?? null)} is not a contract value`);
  const status = r["httpStatus"];
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) return fail("httpStatus is not an HTTP status code");
  if (typeof r["anomaly"] !== "boolean") return fail("anomaly is not a boolean");
  if (!isText(r["policyVersion"], 50)) return fail("policyVersion missing or over 50 characters");
  if (typeof r["gatewayInstance"] !== "string" || r["gatewayInstance"].length > 200) return fail("gatewayInstance missing or over 200 characters");
  if (raw.length > RAW_CONTEXT_MAX) return fail(`the record is over ${RAW_CONTEXT_MAX} characters`);
  const known = typeof r["pathway"] === "string" ? PATHWAYS[r["pathway"]] : undefined;
  return {
    ok: true,
    row: {
      fsi_name: id,
      fsi_correlationid: id,
      fsi_decisiontime: new Date(r["decisionTime"]).toISOString(),
      fsi_agentid: r["agentId"],
      fsi_userobjectid: oid,
      fsi_channel: channel,
      fsi_pathway: known ?? PATHWAY.options.Unmapped,
      fsi_decision: decision,
      fsi_denyreason: denyReason,
      fsi_httpstatus: status,
      fsi_anomaly: known === undefined ? true : r["anomaly"],
      fsi_policyversion: r["policyVersion"],
      fsi_gatewayinstance: r["gatewayInstance"],
      fsi_rawcontext: raw,
    },
  };
}
