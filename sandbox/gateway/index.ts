// The sandbox's APIM gateway listener: `${gateway}/${serviceName}/${apiPath}/${operation}` runs the
// operation's effective policy as APIM would. Expressions compile once per effective policy
// version in one lazily started Mono worker, which also checks expressions when policies are saved.
import { createHash, randomUUID } from "node:crypto";
import path from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { toReq, type Req } from "../http.js";
import type { ApimService, ApiRecord, ChildRecord, PolicyRecord, TenantState } from "../store.js";
import type { Pki } from "../pki.js";
import { issueToken, type EntraContext } from "../entra.js";
import { serviceState } from "../arm/apim.js";
import type { ExpressionChecker, ExpressionToCheck } from "../arm/policyXml.js";
import type { EventStore } from "../eventhubs/store.js";
import { ExpressionHost, INSTALL_HINT, type CompileResult, type ExpressionHostOptions } from "./expressions/host.js";
import { PolicyBuildError, buildEffective, parseExpression, type XNode } from "./policy.js";
import { OutboundClient, type SandboxHosts } from "./outbound.js";
import { OpenIdCache } from "./jwt.js";
import { Pipeline, jsonResponse, type GatewayResponse } from "./pipeline.js";
import { fromIncoming, toOutgoing } from "./headers.js";
import { canSendToHub, resolveLogger } from "./eventhubLogger.js";

export interface GatewayOptions {
  state: TenantState;
  pki: Pki;
  entra: EntraContext;
  events: EventStore;
  stateDir: string;
  hosts: SandboxHosts;
  /** Overrides for the Mono toolchain (tests point `mono` at a missing binary). */
  expressions?: Partial<ExpressionHostOptions>;
}

export interface GatewayStats {
  /** Effective-policy units compiled (one per policy version that served a request). */
  compiles: number;
  compilesByUnit: Record<string, number>;
  /** log-to-eventhub events that were not stored, with why (newest last, at most 100). */
  dropped: { loggerId: string; reason: string; at: string }[];
}

type Operation = ChildRecord & { policy?: PolicyRecord };

/** Policy elements the gateway runs, and the child elements they read. */
const KNOWN = new Set([
  "choose", "when", "otherwise", "set-variable", "set-header", "value", "set-body", "set-status", "set-method", "return-response",
  "send-request", "set-url", "authentication-managed-identity", "log-to-eventhub", "set-backend-service", "forward-request",
  "validate-jwt", "openid-config", "audiences", "audience", "issuers", "issuer", "required-claims", "claim", "trace", "message", "metadata",
]);

const notFound = (): GatewayResponse => jsonResponse(404, "Not Found", { statusCode: 404, message: "Resource not found" });

export class Gateway {
  private hostPromise: Promise<ExpressionHost> | undefined;
  private readonly units = new Map<string, Promise<CompileResult>>();
  private readonly outbound: OutboundClient;
  private readonly openId: OpenIdCache;
  private readonly tokens = new Map<string, { token: string; until: number }>();
  private readonly stats: GatewayStats = { compiles: 0, compilesByUnit: {}, dropped: [] };
  private warnedNoMono = false;
  private closed = false;

  constructor(private readonly opts: GatewayOptions) {
    this.outbound = new OutboundClient(opts.pki.caPem, opts.hosts);
    this.openId = new OpenIdCache(this.outbound);
  }

  getStats(): GatewayStats {
    return structuredClone(this.stats);
  }

  /** The Mono worker, started on first use; a failure (no Mono) is remembered. */
  host(): Promise<ExpressionHost> {
    if (this.closed) return Promise.reject(new Error("The gateway is closed."));
    this.hostPromise ??= ExpressionHost.start({ cacheDir: path.join(this.opts.stateDir, "csharp"), ...this.opts.expressions });
    return this.hostPromise;
  }

  /** ArmContext.checkExpression: compiles a saved document's expressions as one unit. */
  readonly checkExpressions: ExpressionChecker = async (exprs: ExpressionToCheck[]) => {
    const none = exprs.map(() => undefined);
    let host: ExpressionHost;
    try {
      host = await this.host();
    } catch (e) {
      if (!this.warnedNoMono) {
        this.warnedNoMono = true;
        console.warn(`aeg sandbox: policy expressions are not checked on save (${(e as Error).message})`);
      }
      return none;
    }
    const sources = exprs.map((e, i) => parseExpression(e.code, `x${i}`) ?? { id: `x${i}`, kind: "expr" as const, code: e.code });
    const unit = `check-${createHash("sha256").update(JSON.stringify(sources)).digest("hex").slice(0, 24)}`;
    const result = await host.compile(unit, sources);
    if (result.ok) return none;
    const out: (string | undefined)[] = [...none];
    for (const err of result.errors) {
      const i = err.id ? Number(err.id.slice(1)) : 0;
      const where = err.line ? ` (expression line ${err.line}, column ${err.column})` : "";
      const msg = `${err.code ? `${err.code}: ` : ""}${err.message}${where}`;
      out[i] = out[i] ? `${out[i]} ${msg}` : msg;
    }
    return out;
  };

  /** The listener's request handler. */
  handle = async (raw: IncomingMessage, res: ServerResponse, base: string): Promise<void> => {
    const req = await toReq(raw, base);
    let reply: GatewayResponse;
    try {
      reply = await this.serve(req, raw.url ?? "/");
    } catch (e) {
      reply = jsonResponse(500, "Internal Server Error", { statusCode: 500, message: `Sandbox gateway failure: ${(e as Error).message}` });
    }
    const headers = toOutgoing(reply.headers);
    const body = req.method === "HEAD" || reply.status === 204 || reply.status === 304 ? "" : reply.body;
    headers["Content-Length"] = String(Buffer.byteLength(body));
    res.writeHead(reply.status, reply.reason || undefined, headers);
    res.end(body);
  };

  async close(): Promise<void> {
    this.closed = true;
    const p = this.hostPromise;
    if (p) await p.then((h) => h.close()).catch(() => {});
  }

  private async serve(req: Req, rawUrl: string): Promise<GatewayResponse> {
    const segs = req.path.split("/").filter(Boolean);
    const svc = Object.values(this.opts.state.apim).find((s) => s.name.toLowerCase() === (segs[0] ?? "").toLowerCase());
    if (!svc || serviceState(svc) !== "Succeeded") return notFound();
    const match = matchOperation(svc, segs.slice(1), req.method);
    if (!match) return notFound();
    const { api, op, suffix, params } = match;

    if (api.properties["subscriptionRequired"] !== false) {
      // The sandbox has no subscriptions, so no key can be valid (as for a key of a deleted subscription).
      const key = req.headers["ocp-apim-subscription-key"] ?? req.query.get("subscription-key");
      return jsonResponse(401, "Access Denied", {
        statusCode: 401,
        message: key
          ? "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
          : "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
      });
    }

    let effective;
    try {
      effective = buildEffective(svc, api, op);
    } catch (e) {
      if (e instanceof PolicyBuildError) return jsonResponse(500, "Internal Server Error", { statusCode: 500, message: e.message });
      throw e;
    }
    const unknown = new Set<string>();
    const walk = (n: XNode) => {
      if (!KNOWN.has(n.name)) unknown.add(n.name);
      n.children.forEach(walk);
    };
    Object.values(effective.sections).forEach((l) => l.forEach(walk));
    if (unknown.size) {
      return jsonResponse(500, "Internal Server Error", { statusCode: 500, message: `The sandbox gateway does not support these policy elements: ${[...unknown].join(", ")}.` });
    }

    let host: ExpressionHost;
    try {
      host = await this.host();
    } catch (e) {
      return jsonResponse(500, "Internal Server Error", { statusCode: 500, message: `The sandbox gateway cannot run policy expressions: ${(e as Error).message}. ${INSTALL_HINT}` });
    }
    const unit = `gw-${effective.key.slice(0, 32)}`;
    const compiled = await this.compileUnit(host, unit, effective.expressions);
    if (!compiled.ok) {
      const detail = compiled.errors.map((e) => `${e.id ?? "unit"}: ${e.message}`).join("; ");
      return jsonResponse(500, "Internal Server Error", { statusCode: 500, message: `Policy expressions do not compile: ${detail}` });
    }

    const requestId = randomUUID();
    const url = `${req.base}${rawUrl.startsWith("/") ? rawUrl : `/${rawUrl}`}`;
    const request = { method: req.method, url, headers: fromIncoming(req.headers), body: req.rawBody };
    const context = await host.newContext({
      requestId,
      request: { ...request, ipAddress: "127.0.0.1" },
      deployment: { region: svc.location, serviceName: svc.name, gatewayId: "managed" },
      api: { id: api.name, name: String(api.properties["displayName"] ?? api.name), path: String(api.properties["path"] ?? ""), serviceUrl: strOrUndef(api.properties["serviceUrl"]) },
      operation: { id: op.name, name: String(op.properties["displayName"] ?? op.name), method: String(op.properties["method"] ?? ""), urlTemplate: String(op.properties["urlTemplate"] ?? "") },
    });
    try {
      await host.updateRequest(context, { matchedParameters: params });
      const query = new URL(url).search;
      const pipeline = new Pipeline(
        {
          host,
          unit,
          context,
          requestId,
          outbound: this.outbound,
          openId: this.openId,
          managedIdentityToken: (resource, clientId) => this.managedIdentityToken(svc, resource, clientId),
          logToEventHub: (loggerId, body, o) => this.logToEventHub(svc, loggerId, body, o),
          serviceUrl: strOrUndef(api.properties["serviceUrl"]),
          operationSuffix: suffix + query,
        },
        request,
      );
      return await pipeline.run(effective.sections);
    } finally {
      await host.dispose(context).catch(() => {});
    }
  }

  private compileUnit(host: ExpressionHost, unit: string, expressions: { id: string; kind: "expr" | "block"; code: string }[]): Promise<CompileResult> {
    let p = this.units.get(unit);
    if (!p) {
      this.stats.compiles++;
      this.stats.compilesByUnit[unit] = (this.stats.compilesByUnit[unit] ?? 0) + 1;
      p = host.compile(unit, expressions);
      // A failed compile (e.g. the worker died) may be retried by the next request.
      p.then((r) => void (!r.ok && this.units.delete(unit)), () => this.units.delete(unit));
      this.units.set(unit, p);
    }
    return p;
  }

  /** A token from the sandbox Entra for the service's system-assigned identity, cached like APIM does. */
  private async managedIdentityToken(svc: ApimService, resource: string, clientId: string | undefined): Promise<string> {
    if (clientId) throw new Error(`User-assigned identity '${clientId}' is not available: the sandbox emulates the system-assigned identity only.`);
    const id = svc.identity;
    if (!id?.principalId || !id.appId || !/systemassigned/i.test(id.type)) {
      throw new Error(`Managed identity is not enabled for the API Management service '${svc.name}'.`);
    }
    const k = `${id.principalId}|${resource}`;
    const cached = this.tokens.get(k);
    if (cached && cached.until > Date.now()) return cached.token;
    const token = await issueToken(this.opts.entra, { appId: id.appId, objectId: id.principalId, displayName: svc.name }, resource);
    this.tokens.set(k, { token, until: Date.now() + 50 * 60_000 });
    return token;
  }

  private logToEventHub(svc: ApimService, loggerId: string, body: string, o: { partitionId?: string; partitionKey?: string }): void {
    const target = resolveLogger(svc, loggerId);
    const drop = (reason: string) => {
      this.stats.dropped.push({ loggerId, reason, at: new Date().toISOString() });
      if (this.stats.dropped.length > 100) this.stats.dropped.shift();
    };
    if ("error" in target) return drop(target.error);
    const denied = canSendToHub(this.opts.state, this.opts.events, svc, target);
    if (denied) return drop(denied);
    try {
      this.opts.events.append(target.namespace, target.hub, body, o);
    } catch (e) {
      drop((e as Error).message); // like Azure: the send fails in the background, the request goes on
    }
  }
}

function strOrUndef(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}

/** API by longest path prefix, then operation by method and urlTemplate. */
function matchOperation(svc: ApimService, segs: string[], method: string): { api: ApiRecord; op: Operation; suffix: string; params: Record<string, string> } | undefined {
  const lower = segs.map((s) => s.toLowerCase());
  let best: { api: ApiRecord; len: number } | undefined;
  for (const api of Object.values(svc.apis)) {
    const p = String(api.properties["path"] ?? "").split("/").filter(Boolean).map((s) => s.toLowerCase());
    if (p.length > lower.length || !p.every((s, i) => s === lower[i])) continue;
    if (!best || p.length > best.len) best = { api, len: p.length };
  }
  if (!best) return undefined;
  const rest = segs.slice(best.len);
  let found: { op: Operation; params: Record<string, string>; literals: number } | undefined;
  for (const op of Object.values(best.api.operations)) {
    const m = String(op.properties["method"] ?? "").toUpperCase();
    if (m !== method.toUpperCase() && m !== "*") continue;
    const tpl = String(op.properties["urlTemplate"] ?? "/").split("?")[0]!.split("/").filter(Boolean);
    if (tpl.length !== rest.length) continue;
    const params: Record<string, string> = {};
    let literals = 0;
    const ok = tpl.every((t, i) => {
      const seg = rest[i]!;
      const param = /^\{([^}]+)\}$/.exec(t);
      if (param) {
        params[param[1]!] = decodeSafe(seg);
        return true;
      }
      literals++;
      return t.toLowerCase() === seg.toLowerCase();
    });
    if (ok && (!found || literals > found.literals)) found = { op, params, literals };
  }
  if (!found) return undefined;
  return { api: best.api, op: found.op, suffix: rest.length ? `/${rest.join("/")}` : "", params: found.params };
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
