// `POST /api/data/v9.2/$batch`: a multipart/mixed body of `application/http` requests, some
// grouped in change sets (multipart/mixed inside). Each request is replayed through the same
// router (so it is authenticated and counted against the limits one by one), and the answers go
// back as multipart/mixed. A change set is atomic: the first failure rolls the custom tables back
// and is the change set's only answer. Without `Prefer: odata.continue-on-error` the batch stops
// at the first failure, as Dataverse does.
import { randomUUID } from "node:crypto";
import { HttpError, header, parseJson, type Reply, type Req, type Router } from "../http.js";
import { DATA_PATH, dataverseError, type BatchInnerReq, type DataverseGate } from "./dataverse.js";
import type { DataverseTables } from "./dataverse-tables.js";
import { PARSE_ERROR } from "./odata.js";

export const MAX_BATCH_REQUESTS = 1000;

interface Part {
  headers: Record<string, string>;
  body: string;
}

interface InnerRequest {
  method: string;
  target: string;
  headers: Record<string, string>;
  body: string;
  contentId?: string;
}

type Item = { kind: "request"; req: InnerRequest } | { kind: "changeset"; requests: InnerRequest[] };

const bad = (message: string) => new HttpError(dataverseError(400, PARSE_ERROR, message));

function boundaryOf(contentType: string | undefined): string | undefined {
  return /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "")?.slice(1).find((x) => x !== undefined);
}

/** Splits a multipart body on its boundary; CRLF and bare LF line ends are both accepted. */
function splitMultipart(text: string, boundary: string): Part[] {
  const parts: Part[] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const line of text.split(/\r?\n/)) {
    const t = line.trimEnd();
    if (t === `--${boundary}--`) {
      if (current) parts.push(parsePart(current));
      current = undefined;
      closed = true;
      break;
    }
    if (t === `--${boundary}`) {
      if (current) parts.push(parsePart(current));
      current = [];
      continue;
    }
    current?.push(line);
  }
  if (!closed) throw bad(`The multipart body has no closing delimiter '--${boundary}--'.`);
  return parts;
}

/** Header lines, a blank line, then the body (the line break before the next delimiter is not body). */
function parsePart(lines: string[]): Part {
  const headers: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length && lines[i]!.trim() !== ""; i++) {
    const c = lines[i]!.indexOf(":");
    if (c > 0) headers[lines[i]!.slice(0, c).trim().toLowerCase()] = lines[i]!.slice(c + 1).trim();
  }
  const body = lines.slice(i + 1);
  while (body.length && body[body.length - 1]!.trim() === "") body.pop();
  return { headers, body: body.join("\r\n") };
}

function parseHttpRequest(part: Part): InnerRequest {
  if (!/^application\/http/i.test(part.headers["content-type"] ?? "")) throw bad(`A batch part must be 'application/http' or a 'multipart/mixed' change set (got '${part.headers["content-type"] ?? ""}').`);
  const lines = part.body.split(/\r?\n/);
  const m = /^([A-Z]+)\s+(\S+)(?:\s+HTTP\/1\.[01])?$/.exec(lines[0]?.trim() ?? "");
  if (!m) throw bad(`The request line '${lines[0] ?? ""}' is not 'METHOD URL HTTP/1.1'.`);
  const inner = parsePart(lines.slice(1));
  return { method: m[1]!, target: m[2]!, headers: inner.headers, body: inner.body, contentId: part.headers["content-id"] };
}

function parseBatch(req: Req): Item[] {
  const boundary = boundaryOf(header(req, "content-type"));
  if (!/^multipart\/mixed/i.test(header(req, "content-type") ?? "") || !boundary) throw bad("A $batch request needs 'Content-Type: multipart/mixed; boundary=…'.");
  return splitMultipart(req.rawBody, boundary).map((p): Item => {
    const ct = p.headers["content-type"] ?? "";
    if (!/^multipart\/mixed/i.test(ct)) return { kind: "request", req: parseHttpRequest(p) };
    const inner = boundaryOf(ct);
    if (!inner) throw bad("A change set needs 'Content-Type: multipart/mixed; boundary=…'.");
    const requests = splitMultipart(p.body, inner).map((q) => {
      if (/^multipart\//i.test(q.headers["content-type"] ?? "")) throw bad("Change sets cannot be nested.");
      return parseHttpRequest(q);
    });
    return { kind: "changeset", requests };
  });
}

export function registerDataverseBatch(router: Router<unknown>, gate: DataverseGate, tables: DataverseTables, maxRequests = MAX_BATCH_REQUESTS): void {
  // The envelope itself is not counted against the request limit; each request inside it is.
  router.add("POST", `${DATA_PATH}/$batch`, gate((req) => runBatch(req, router, tables, maxRequests), { countRequest: false }));
}

async function runBatch(req: Req, router: Router<unknown>, tables: DataverseTables, maxRequests: number): Promise<Reply> {
  const items = parseBatch(req);
  const total = items.reduce((n, it) => n + (it.kind === "request" ? 1 : it.requests.length), 0);
  if (total > maxRequests) throw bad(`The number of requests in the batch (${total}) exceeds the limit of ${maxRequests}.`);
  const continueOnError = /odata\.continue-on-error/i.test(header(req, "prefer") ?? "");
  const boundary = `batchresponse_${randomUUID()}`;
  const out: string[] = [];
  /** Content-ID → the created or addressed resource, for `$n` references in later URLs. */
  const locations = new Map<string, string>();

  for (const item of items) {
    if (item.kind === "request") {
      if (item.req.contentId) throw bad("Content-ID is only allowed on requests inside a change set.");
      const r = await dispatch(req, router, item.req, locations);
      out.push(part(boundary, httpPart(r)));
      if (r.status >= 400 && !continueOnError) break;
      continue;
    }
    const snapshot = tables.snapshot();
    const answers: string[] = [];
    let failed: { reply: Reply; contentId?: string } | undefined;
    for (const inner of item.requests) {
      const r = inner.method === "GET" ? dataverseError(400, PARSE_ERROR, "A change set may not contain GET requests; send them outside change sets.") : await dispatch(req, router, inner, locations);
      if (r.status >= 400) {
        failed = { reply: r, contentId: inner.contentId };
        break;
      }
      answers.push(httpPart(r, inner.contentId));
    }
    if (failed) {
      tables.restore(snapshot); // all or nothing
      out.push(part(boundary, httpPart(failed.reply, failed.contentId)));
      if (!continueOnError) break;
    } else {
      const cs = `changesetresponse_${randomUUID()}`;
      out.push(part(boundary, `Content-Type: multipart/mixed; boundary=${cs}\r\n\r\n${answers.map((a) => part(cs, a)).join("")}--${cs}--`));
    }
  }
  const headers: Record<string, string> = { "OData-Version": "4.0", "Content-Type": `multipart/mixed; boundary=${boundary}` };
  if (continueOnError) headers["Preference-Applied"] = "odata.continue-on-error";
  return { status: 200, headers, text: `${out.join("")}--${boundary}--\r\n` };
}

function part(boundary: string, content: string): string {
  return `--${boundary}\r\n${content}\r\n`;
}

/** Runs one inner request through the router as if it had come on its own, with the batch's token. */
async function dispatch(outer: Req, router: Router<unknown>, r: InnerRequest, locations: Map<string, string>): Promise<Reply> {
  let target = r.target.replace(/^\$([A-Za-z0-9_-]+)/, (ref, id: string) => locations.get(id) ?? ref);
  if (!/^https?:\/\//i.test(target) && !target.startsWith("/")) target = `${DATA_PATH}/${target}`;
  const url = new URL(target, outer.base);
  const headers: Record<string, string> = { ...r.headers };
  const auth = header(outer, "authorization");
  if (auth && !headers["authorization"]) headers["authorization"] = auth;
  const inner: BatchInnerReq = {
    method: r.method,
    path: url.pathname.replace(/\/{2,}/g, "/"),
    query: url.searchParams,
    headers,
    rawBody: r.body,
    body: parseJson(r.body),
    params: {},
    base: outer.base,
    inBatch: true,
  };
  const m = router.match(inner.method, inner.path);
  let reply: Reply;
  if (!("handler" in m)) {
    reply = dataverseError(m.methodMismatch ? 405 : 404, "", `No HTTP resource was found that matches the request URI '${url.href}'.`);
  } else {
    inner.params = m.params;
    try {
      reply = await m.handler(inner);
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      reply = e.reply;
    }
  }
  if (reply.reset || reply.status === 0) reply = dataverseError(500, "", "The request was reset (sandbox fault).");
  const entity = Object.entries(reply.headers ?? {}).find(([k]) => k.toLowerCase() === "odata-entityid")?.[1];
  if (r.contentId && entity) locations.set(r.contentId, entity);
  return reply;
}

const REASONS: Record<number, string> = { 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable" };

/** One answer as an `application/http` part. */
function httpPart(r: Reply, contentId?: string): string {
  const text = r.text ?? (r.body !== undefined && r.status !== 204 ? JSON.stringify(r.body) : undefined);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) if (k.toLowerCase() !== "content-length") headers[k] = v;
  if (text !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) headers["Content-Type"] = "application/json; odata.metadata=minimal";
  const lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"];
  if (contentId) lines.push(`Content-ID: ${contentId}`);
  lines.push("", `HTTP/1.1 ${r.status} ${REASONS[r.status] ?? ""}`.trimEnd());
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  lines.push("", text ?? "");
  return lines.join("\r\n");
}
