// Minimal HTTPS plumbing shared by every sandbox listener: a path router, JSON helpers, and the
// listener factory. Deliberately tiny: the emulated APIs are few and their paths are fixed.
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Headers = Record<string, string>;

/** What a handler returns; the listener writes it. `body` undefined = no body. */
export interface Reply {
  status: number;
  headers?: Headers;
  body?: unknown;
  /** Raw text body (already serialized); wins over `body`. */
  text?: string;
  /** Destroy the connection instead of answering (a service that is down). */
  reset?: boolean;
}

export interface Req {
  method: string;
  /** Path with `//` collapsed and no query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  rawBody: string;
  /** Parsed JSON body, or undefined when there is none / it is not JSON. */
  body: unknown;
  /** Named path parameters, decoded. */
  params: Record<string, string>;
  /** Base URL of the listener, e.g. https://127.0.0.1:1234 */
  base: string;
  /** The authenticated caller, once the listener has checked the bearer token. */
  caller?: { objectId: string; appId: string };
  /** Set when no emulated operation matches (unknown path, method or api-version). */
  unrouted?: boolean;
}

export type Handler = (req: Req) => Reply | Promise<Reply>;

/** Thrown by handlers to answer with an error reply without threading it through returns. */
export class HttpError extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

interface Route {
  methods: string[];
  segments: string[];
  handler: Handler;
  tag: unknown;
  /** Optional extra test on the path, for routes sharing a shape with another (Dataverse keyed segments). */
  accepts?: (path: string) => boolean;
}

/**
 * Path router. Literal segments compare case-insensitively (ARM paths are case-insensitive);
 * `{name}` captures one segment; a leading `{*name}` captures one or more segments (ARM `{scope}`).
 */
export class Router<Tag = undefined> {
  private routes: Route[] = [];

  add(methods: string | string[], pattern: string, handler: Handler, tag?: Tag, accepts?: (path: string) => boolean): this {
    const m = (Array.isArray(methods) ? methods : [methods]).map((x) => x.toUpperCase());
    this.routes.push({ methods: m, segments: split(pattern), handler, tag, ...(accepts ? { accepts } : {}) });
    return this;
  }

  /** Finds the route for a path. `methodMismatch` says the path exists but not for this method. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string>; tag: Tag } | { methodMismatch: boolean } {
    const segs = split(path);
    let pathKnown = false;
    for (const r of this.routes) {
      const params = matchSegments(r.segments, segs);
      if (!params || (r.accepts && !r.accepts(path))) continue;
      pathKnown = true;
      if (r.methods.includes(method.toUpperCase())) return { handler: r.handler, params, tag: r.tag as Tag };
    }
    return { methodMismatch: pathKnown };
  }
}

function split(p: string): string[] {
  return p.split("/").filter((s) => s.length > 0);
}

function matchSegments(pattern: string[], segs: string[]): Record<string, string> | undefined {
  const first = pattern[0];
  if (first?.startsWith("{*")) {
    // Greedy scope: the rest of the pattern must match the tail of the path.
    const rest = pattern.slice(1);
    if (segs.length <= rest.length) return undefined;
    const tail = matchSegments(rest, segs.slice(segs.length - rest.length));
    if (!tail) return undefined;
    return { ...tail, [first.slice(2, -1)]: "/" + segs.slice(0, segs.length - rest.length).join("/") };
  }
  if (pattern.length !== segs.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segs[i]!;
    if (p.startsWith("{")) {
      try {
        params[p.slice(1, -1)] = decodeURIComponent(s);
      } catch {
        return undefined;
      }
    } else if (p.toLowerCase() !== s.toLowerCase()) {
      return undefined;
    }
  }
  return params;
}

export function json(status: number, body: unknown, headers: Headers = {}): Reply {
  return { status, body, headers };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function parseJson(text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Builds a Req from a Node request (body read, path normalised). */
export async function toReq(req: IncomingMessage, base: string): Promise<Req> {
  // Collapse `//` before parsing: `new URL("//subscriptions/…", base)` would read a host name.
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const url = new URL((q < 0 ? raw : raw.slice(0, q)).replace(/\/{2,}/g, "/") + (q < 0 ? "" : raw.slice(q)), base);
  const rawBody = await readBody(req);
  const ct = String(req.headers["content-type"] ?? "");
  let body: unknown;
  if (ct.includes("application/x-www-form-urlencoded")) body = Object.fromEntries(new URLSearchParams(rawBody));
  else body = parseJson(rawBody);
  return {
    method: (req.method ?? "GET").toUpperCase(),
    // SDKs sometimes send `//subscriptions/...` (the authorization SDK's `{scope}` template).
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    rawBody,
    body,
    params: {},
    base,
  };
}

export function writeReply(res: ServerResponse, reply: Reply, method: string): string | undefined {
  if (reply.reset) {
    res.destroy();
    return undefined;
  }
  const headers: Headers = { ...(reply.headers ?? {}) };
  let text = reply.text;
  if (text === undefined && reply.body !== undefined) {
    text = JSON.stringify(reply.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["Content-Type"] = "application/json; charset=utf-8";
  }
  // HEAD and 204 never carry a body.
  const send = method !== "HEAD" && reply.status !== 204 && reply.status !== 304 ? text : undefined;
  headers["Content-Length"] = String(send === undefined ? 0 : Buffer.byteLength(send));
  reply.headers = headers; // what was really sent, for the traffic record
  res.writeHead(reply.status, headers);
  res.end(send);
  return send;
}

export interface Listener {
  url: string;
  close(): Promise<void>;
}

/** Starts an HTTPS listener on 127.0.0.1 that hands each request to `onRequest`. */
export async function listen(
  tls: { key: string; cert: string },
  port: number,
  onRequest: (req: IncomingMessage, res: ServerResponse, base: string) => Promise<void>,
): Promise<Listener> {
  let base = "";
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    onRequest(req, res, base).catch((err: unknown) => {
      // A bug in a handler must still answer, or the client hangs until its timeout.
      if (!res.headersSent) writeReply(res, json(500, { error: { code: "InternalServerError", message: String(err) } }), "GET");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Listens on the preferred port when it is free, else on any free port: a tenant's endpoints (and
 * so the URLs stored in its policies) stay the same from one run to the next.
 */
export async function listenPreferring(
  tls: { key: string; cert: string },
  preferred: number | undefined,
  onRequest: (req: IncomingMessage, res: ServerResponse, base: string) => Promise<void>,
): Promise<Listener> {
  if (!preferred) return listen(tls, 0, onRequest);
  try {
    return await listen(tls, preferred, onRequest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    return listen(tls, 0, onRequest);
  }
}

/** A listener driven by a Router; unknown paths answer 404 with a JSON error. */
export function routerHandler(router: Router<unknown>, notFound: (req: Req) => Reply) {
  return async (req: IncomingMessage, res: ServerResponse, base: string): Promise<void> => {
    const r = await toReq(req, base);
    const m = router.match(r.method, r.path);
    let reply: Reply;
    if ("handler" in m) {
      r.params = m.params;
      try {
        reply = await m.handler(r);
      } catch (e) {
        if (e instanceof HttpError) reply = e.reply;
        else throw e;
      }
    } else reply = notFound(r);
    writeReply(res, reply, r.method);
  };
}

export function header(req: Req, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
