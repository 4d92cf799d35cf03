// Shared ARM vocabulary: error bodies, ETags, If-Match, list envelopes, and the context that
// every resource provider module receives.
import { randomBytes, randomUUID } from "node:crypto";
import { HttpError, json, header, type Reply, type Req, type Router } from "../http.js";
import type { TenantState, OperationRecord } from "../store.js";
import type { PolicyFormat, ExpressionChecker } from "./policyXml.js";
import type { EventStore } from "../eventhubs/store.js";
import { operationMs, type LatencyModel } from "./latency.js";

export interface ArmOptions {
  apimActivationMs: number;
  lroPolls: number;
  retryAfterSeconds: number;
  /** Answer delays and operation durations (latency.ts). */
  latency: LatencyModel;
}

export interface ArmContext {
  state: TenantState;
  opts: ArmOptions;
  urls: { arm: () => string; gateway: () => string };
  /** Compiles a saved policy's C# expressions (the gateway's expression host). */
  checkExpression?: ExpressionChecker;
  /** Events sent to Event Hubs (read by the admin API). */
  events?: EventStore;
  /** Gateway counters for the admin API. */
  gatewayStats?: () => unknown;
}

/** Route tag: the single api-version the route accepts (the one whose spec we validate against). */
export interface RouteTag {
  apiVersion: string;
}

export type ArmRouter = Router<RouteTag>;

export function armError(status: number, code: string, message: string, extra: Record<string, unknown> = {}): Reply {
  return json(status, { error: { code, message, ...extra } });
}

export function fail(status: number, code: string, message: string, extra: Record<string, unknown> = {}): never {
  throw new HttpError(armError(status, code, message, extra));
}

/** APIM's field-level validation error shape. */
export function validationError(details: { target: string; message: string }[]): never {
  fail(400, "ValidationError", "One or more fields contain incorrect values:", {
    details: details.map((d) => ({ code: "ValidationError", target: d.target, message: d.message })),
  });
}

/** APIM-style opaque ETag value (quoted form is used in headers). */
export function newEtag(): string {
  return `"${randomBytes(8).toString("base64")}"`;
}

/** The ETag without quotes, as ARM puts it in resource bodies. */
export const bareEtag = (e: string) => e.replace(/^"|"$/g, "");

/** Checks If-Match against the current ETag. `required` = DELETE/PATCH on APIM children. */
export function checkIfMatch(req: Req, currentEtag: string | undefined, required: boolean): void {
  const ifMatch = header(req, "if-match");
  if (ifMatch === undefined) {
    if (required) fail(400, "InvalidRequest", "The 'If-Match' header is required for this operation. Use '*' to match any entity.");
    return;
  }
  if (ifMatch.trim() === "*") return;
  if (!currentEtag || bareEtag(ifMatch.trim()) !== bareEtag(currentEtag)) {
    fail(412, "PreconditionFailed", "Resource was modified since last retrieval. Refresh entity and try again.");
  }
}

export function body(req: Req): Record<string, unknown> {
  const b = req.body;
  if (b === undefined && req.rawBody.trim()) fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.");
  return b && typeof b === "object" && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

export function props(b: Record<string, unknown>): Record<string, unknown> {
  const p = b["properties"];
  return p && typeof p === "object" && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

/** `{value, count, nextLink}` list with `$top`/`$skip` paging (APIM style). */
export function listReply(req: Req, items: unknown[], withCount = true): Reply {
  const top = Number(req.query.get("$top") ?? NaN);
  const skip = Number(req.query.get("$skip") ?? 0) || 0;
  let page = items.slice(skip);
  let nextLink: string | undefined;
  if (Number.isInteger(top) && top > 0 && page.length > top) {
    page = page.slice(0, top);
    const q = new URLSearchParams(req.query);
    q.set("$skip", String(skip + top));
    nextLink = `${req.base}${req.path}?${q.toString()}`;
  }
  const out: Record<string, unknown> = { value: page };
  if (withCount) out["count"] = items.length;
  if (nextLink) out["nextLink"] = nextLink;
  return json(200, out);
}

/** `startedBy`: the request that starts it, whose kind of write the latency model times. */
export function newOperation(ctx: ArmContext, kind: OperationRecord["kind"], target?: string, startedBy?: Req): OperationRecord {
  const runsMs = startedBy ? operationMs(ctx.opts.latency, startedBy.method, startedBy.path) : 0;
  const op: OperationRecord = {
    id: randomUUID().replace(/-/g, ""),
    kind,
    pollsLeft: ctx.opts.lroPolls,
    startTime: new Date().toISOString(),
    target,
    ...(runsMs > 0 ? { readyAt: Date.now() + runsMs } : {}),
  };
  ctx.state.operations[op.id] = op;
  return op;
}

/** Status of an operation: each poll consumes one InProgress answer, and it runs at least until `readyAt`. */
export function pollCountBased(op: OperationRecord): "InProgress" | "Succeeded" {
  if (op.pollsLeft > 0) {
    op.pollsLeft--;
    return "InProgress";
  }
  if (op.readyAt !== undefined && Date.now() < op.readyAt) return "InProgress";
  op.endTime ??= new Date().toISOString();
  return "Succeeded";
}

export const key = (...parts: string[]) => parts.map((p) => p.toLowerCase()).join("/");

export function formatParam(req: Req): PolicyFormat | undefined {
  const f = req.query.get("format");
  if (f === null) return undefined;
  if (f !== "xml" && f !== "rawxml") fail(400, "ValidationError", `Invalid format '${f}'. Supported formats are 'xml' and 'rawxml'.`);
  return f;
}

export function stringProp(p: Record<string, unknown>, name: string): string | undefined {
  const v = p[name];
  return typeof v === "string" ? v : undefined;
}

export function retryAfter(ctx: ArmContext): Record<string, string> {
  return { "Retry-After": String(ctx.opts.retryAfterSeconds) };
}

export function requireResourceGroup(ctx: ArmContext, rg: string): { name: string; location: string } {
  const found = ctx.state.resourceGroups[rg.toLowerCase()];
  if (!found) fail(404, "ResourceGroupNotFound", `Resource group '${rg}' could not be found.`);
  return found;
}

export function resourceNotFound(type: string, name: string, rg: string): never {
  fail(404, "ResourceNotFound", `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
}

/** Location as ARM uses it in URLs: `West US` → `westus`. */
export const locationName = (l: string) => l.toLowerCase().replace(/\s+/g, "");
