// Runs one request through an effective policy: inbound → backend → outbound, and on an error
// on-error with context.LastError set. Expressions run in the Mono worker (one context per
// request); the request and response as policies change them are mirrored into that context so
// expressions always see the message as it is at that point.
import type { ExpressionHost, EvalResult } from "./expressions/host.js";
import type { Section, XNode } from "./policy.js";
import { applyHeader, getHeader, withoutHop, type ExistsAction, type HeaderBag } from "./headers.js";
import { JwtFailure, validateJwt, type OpenIdCache, type RequiredClaim } from "./jwt.js";
import { TransportError, type OutboundClient, type OutboundResponse } from "./outbound.js";

export interface Message {
  method: string;
  url: string;
  headers: HeaderBag;
  body: string;
}

export interface GatewayResponse {
  status: number;
  reason: string;
  headers: HeaderBag;
  body: string;
}

/** What the pipeline needs from the gateway around it. */
export interface PipelineDeps {
  host: ExpressionHost;
  unit: string;
  context: string;
  /** context.RequestId, reported as activityId in default error bodies. */
  requestId: string;
  outbound: OutboundClient;
  openId: OpenIdCache;
  /** A token for the APIM instance's managed identity; throws when it has none. */
  managedIdentityToken: (resource: string, clientId?: string) => Promise<string>;
  /** Sends to the logger's hub (dropped silently when the identity may not send); throws if the logger is unknown. */
  logToEventHub: (loggerId: string, body: string, opts: { partitionId?: string; partitionKey?: string }) => void;
  /** The API's serviceUrl and the path/query after the API path, for the backend URL. */
  serviceUrl: string | undefined;
  operationSuffix: string;
}

/** A policy error: on-error runs with these LastError values. */
export class PolicyError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
    message: string,
    /** The response APIM answers when no on-error handles it (validate-jwt's 401). */
    readonly defaultResponse?: GatewayResponse,
  ) {
    super(message);
  }
}

/** return-response: ends the pipeline with this response. */
class Returned {
  constructor(readonly response: GatewayResponse) {}
}

const MAX_EVENT_BYTES = 200 * 1024;

export function jsonResponse(status: number, reason: string, body: unknown): GatewayResponse {
  return { status, reason, headers: { "Content-Type": ["application/json; charset=utf-8"] }, body: JSON.stringify(body) };
}

export class Pipeline {
  private section: Section = "inbound";
  private response: GatewayResponse = { status: 200, reason: "OK", headers: {}, body: "" };
  private backendBase: string | undefined;
  /** send-request responses by variable name, for return-response response-variable-name. */
  private readonly responses = new Map<string, GatewayResponse>();
  private current: XNode | undefined;

  constructor(
    private readonly deps: PipelineDeps,
    private readonly request: Message,
  ) {}

  async run(sections: Record<Section, XNode[]>): Promise<GatewayResponse> {
    try {
      for (const s of ["inbound", "backend", "outbound"] as const) {
        this.section = s;
        await this.list(sections[s]);
      }
      return this.response;
    } catch (e) {
      if (e instanceof Returned) return e.response;
      return this.onError(this.asPolicyError(e), sections["on-error"]);
    }
  }

  private asPolicyError(e: unknown): PolicyError {
    if (e instanceof PolicyError) return e;
    return new PolicyError(this.current?.name ?? "gateway", "InternalError", e instanceof Error ? e.message : String(e));
  }

  private async onError(err: PolicyError, handlers: XNode[]): Promise<GatewayResponse> {
    const node = this.current;
    const { host, context } = this.deps;
    this.response = err.defaultResponse ?? jsonResponse(500, "Internal Server Error", { statusCode: 500, message: "Internal server error", activityId: this.deps.requestId });
    await host.setLastError(context, {
      source: err.source,
      reason: err.reason,
      message: err.message,
      scope: node?.scope,
      section: this.section,
      path: node?.path,
      policyId: node?.attrs["id"],
    });
    await this.syncResponse();
    this.section = "on-error";
    try {
      await this.list(handlers);
      return this.response;
    } catch (e) {
      if (e instanceof Returned) return e.response;
      // An error inside on-error is not handled again: the caller gets a plain 500.
      return jsonResponse(500, "Internal Server Error", { statusCode: 500, message: "Internal server error", activityId: this.deps.requestId });
    }
  }

  private async list(nodes: XNode[]): Promise<void> {
    for (const n of nodes) await this.exec(n);
  }

  private async exec(n: XNode): Promise<void> {
    this.current = n;
    switch (n.name) {
      case "choose":
        for (const c of n.children) {
          if (c.name === "otherwise" || (c.name === "when" && (await this.condition(c)))) {
            await this.list(c.children);
            return;
          }
        }
        return;
      case "set-variable":
        return this.setVariable(n);
      case "set-header": {
        const target = this.section === "inbound" || this.section === "backend" ? this.request.headers : this.response.headers;
        await this.applySetHeader(n, target);
        this.current = n;
        return this.section === "inbound" || this.section === "backend" ? this.syncRequest() : this.syncResponse();
      }
      case "set-body": {
        const body = await this.text(n);
        if (this.section === "inbound" || this.section === "backend") {
          this.request.body = body;
          return this.syncRequest();
        }
        this.response.body = body;
        return this.syncResponse();
      }
      case "set-status": {
        this.response.status = Number(await this.attr(n, "code", "200"));
        this.response.reason = await this.attr(n, "reason", "");
        return this.syncResponse();
      }
      case "set-method":
        this.request.method = (await this.text(n)).toUpperCase();
        return this.syncRequest();
      case "return-response":
        return this.returnResponse(n);
      case "send-request":
        return this.sendRequest(n);
      case "authentication-managed-identity":
        return this.managedIdentity(n);
      case "log-to-eventhub":
        return this.logToEventHub(n);
      case "set-backend-service":
        return this.setBackend(n);
      case "forward-request":
        return this.forward();
      case "validate-jwt":
        return this.validateJwt(n);
      case "trace":
        return; // the sandbox has no tracing; the message is not evaluated
      default:
        throw new PolicyError(n.name, "UnsupportedPolicy", `The sandbox gateway does not support the policy '${n.name}'.`);
    }
  }

  // --- values ---

  private async evalSlot(n: XNode, slot: string, assign?: string): Promise<EvalResult & { ok: true }> {
    const id = n.exprs[slot]!;
    const r = await this.deps.host.eval(this.deps.context, this.deps.unit, id, assign ? { assign } : {});
    this.current = n;
    if (!r.ok) throw new PolicyError(n.name, "ExpressionValueEvaluationFailure", `Expression evaluation failed. ${r.error.message}`);
    return r;
  }

  /** An attribute's value: its expression's result as text, or the literal. */
  private async attr(n: XNode, name: string, fallback: string): Promise<string> {
    if (n.exprs[name]) return asText((await this.evalSlot(n, name)).value);
    return n.attrs[name] ?? fallback;
  }

  private async text(n: XNode): Promise<string> {
    if (n.exprs["#text"]) return asText((await this.evalSlot(n, "#text")).value);
    return n.text ?? "";
  }

  private async condition(n: XNode): Promise<boolean> {
    if (!n.exprs["condition"]) {
      const v = (n.attrs["condition"] ?? "").trim().toLowerCase();
      if (v === "true" || v === "false") return v === "true";
      throw new PolicyError("choose", "ExpressionValueEvaluationFailure", `Condition '${n.attrs["condition"] ?? ""}' is not a boolean.`);
    }
    const r = await this.evalSlot(n, "condition");
    if (typeof r.value !== "boolean") throw new PolicyError("choose", "ExpressionValueEvaluationFailure", `Expression evaluation failed. The condition returned ${r.valueType}, not System.Boolean.`);
    return r.value;
  }

  private async setVariable(n: XNode): Promise<void> {
    const name = n.attrs["name"] ?? "";
    // An expression keeps its typed result in the worker; a literal is always a string.
    if (n.exprs["value"]) await this.evalSlot(n, "value", name);
    else await this.deps.host.set(this.deps.context, name, { type: "string", value: n.attrs["value"] ?? "" });
  }

  private async applySetHeader(n: XNode, target: HeaderBag): Promise<void> {
    const name = await this.attr(n, "name", "");
    const action = (await this.attr(n, "exists-action", "override")).toLowerCase() as ExistsAction;
    const values: string[] = [];
    for (const v of n.children.filter((c) => c.name === "value")) values.push(await this.text(v));
    applyHeader(target, name, action, values);
  }

  // --- context mirroring ---

  private async syncRequest(): Promise<void> {
    const r = this.request;
    await this.deps.host.updateRequest(this.deps.context, { method: r.method, url: r.url, headers: r.headers, body: r.body });
  }

  private async syncResponse(): Promise<void> {
    const r = this.response;
    await this.deps.host.setResponse(this.deps.context, { status: r.status, reason: r.reason, headers: r.headers, body: r.body });
  }

  // --- policies ---

  private async returnResponse(n: XNode): Promise<void> {
    const from = n.attrs["response-variable-name"] ? this.responses.get(n.attrs["response-variable-name"]) : undefined;
    const out: GatewayResponse = from ? { ...from, headers: { ...from.headers } } : { status: 200, reason: "OK", headers: {}, body: "" };
    for (const c of n.children) {
      this.current = c;
      if (c.name === "set-status") {
        out.status = Number(await this.attr(c, "code", "200"));
        out.reason = await this.attr(c, "reason", "");
      } else if (c.name === "set-header") await this.applySetHeader(c, out.headers);
      else if (c.name === "set-body") out.body = await this.text(c);
    }
    throw new Returned(out);
  }

  private async sendRequest(n: XNode): Promise<void> {
    const variable = n.attrs["response-variable-name"] ?? "";
    const timeoutS = Number(await this.attr(n, "timeout", "60"));
    const ignoreError = (await this.attr(n, "ignore-error", "false")).toLowerCase() === "true";
    const copy = (n.attrs["mode"] ?? "new").toLowerCase() === "copy";
    const req: Message = copy ? { ...this.request, headers: withoutHop(this.request.headers) } : { method: "GET", url: "", headers: {}, body: "" };
    try {
      for (const c of n.children) {
        this.current = c;
        if (c.name === "set-url") req.url = await this.text(c);
        else if (c.name === "set-method") req.method = (await this.text(c)).toUpperCase();
        else if (c.name === "set-header") await this.applySetHeader(c, req.headers);
        else if (c.name === "set-body") req.body = await this.text(c);
        else if (c.name === "authentication-managed-identity") {
          const token = await this.deps.managedIdentityToken(await this.attr(c, "resource", ""), c.attrs["client-id"]).catch((e: Error) => {
            throw new PolicyError("authentication-managed-identity", "ManagedIdentityTokenFailure", e.message);
          });
          applyHeader(req.headers, "Authorization", "override", [`Bearer ${token}`]);
        }
      }
      this.current = n;
      const res = await this.deps.outbound.call(req, (Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS : 60) * 1000);
      this.responses.set(variable, res);
      await this.deps.host.set(this.deps.context, variable, { type: "response", ...toResponseInit(res) });
    } catch (e) {
      this.current = n;
      if (e instanceof TransportError) {
        if (!ignoreError) throw new PolicyError("send-request", e.reason, e.message);
        this.responses.delete(variable);
        await this.deps.host.set(this.deps.context, variable, { type: "null" });
        return;
      }
      throw e;
    }
  }

  private async managedIdentity(n: XNode): Promise<void> {
    const resource = await this.attr(n, "resource", "");
    const ignoreError = (n.attrs["ignore-error"] ?? "false").toLowerCase() === "true";
    let token: string;
    try {
      token = await this.deps.managedIdentityToken(resource, n.attrs["client-id"]);
    } catch (e) {
      if (ignoreError) return;
      throw new PolicyError("authentication-managed-identity", "ManagedIdentityTokenFailure", (e as Error).message);
    }
    const output = n.attrs["output-token-variable-name"];
    if (output) {
      await this.deps.host.set(this.deps.context, output, { type: "string", value: token });
      return;
    }
    applyHeader(this.request.headers, "Authorization", "override", [`Bearer ${token}`]);
    await this.syncRequest();
  }

  private async logToEventHub(n: XNode): Promise<void> {
    let body = await this.text(n);
    if (Buffer.byteLength(body) > MAX_EVENT_BYTES) body = Buffer.from(body).subarray(0, MAX_EVENT_BYTES).toString("utf8");
    const partitionKey = n.attrs["partition-key"] !== undefined ? await this.attr(n, "partition-key", "") : undefined;
    try {
      this.deps.logToEventHub(n.attrs["logger-id"] ?? "", body, { partitionId: n.attrs["partition-id"], partitionKey });
    } catch (e) {
      throw new PolicyError("log-to-eventhub", "LoggerFailure", (e as Error).message);
    }
  }

  private async setBackend(n: XNode): Promise<void> {
    if (n.attrs["backend-id"] !== undefined) throw new PolicyError("set-backend-service", "UnsupportedPolicy", "The sandbox gateway has no backend entities: use base-url.");
    this.backendBase = await this.attr(n, "base-url", "");
  }

  /**
   * The sandbox cannot reach real backends, so it answers as an echo backend: 200 with the
   * request it would have sent (Authorization left out, so tokens are not reflected).
   */
  private async forward(): Promise<void> {
    const base = this.backendBase ?? this.deps.serviceUrl;
    if (!base) throw new PolicyError("forward-request", "BackendUrlNotDefined", "Backend service URL is not defined.");
    const headers = withoutHop(this.request.headers);
    delete headers[Object.keys(headers).find((k) => k.toLowerCase() === "authorization") ?? ""];
    const url = base.replace(/\/+$/, "") + this.deps.operationSuffix;
    const flat = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.join(",")]));
    this.response = jsonResponse(200, "OK", { echo: true, method: this.request.method, url, headers: flat, body: this.request.body });
    await this.syncResponse();
  }

  private async validateJwt(n: XNode): Promise<void> {
    const httpCode = Number(await this.attr(n, "failed-validation-httpcode", "401"));
    const bodyMessage = n.attrs["failed-validation-error-message"] !== undefined ? await this.attr(n, "failed-validation-error-message", "") : undefined;
    const token = await this.jwtToken(n);
    const flag = async (name: string, dflt: boolean) => (await this.attr(n, name, String(dflt))).toLowerCase() === "true";
    const list = (parent: string, child: string) => {
      const p = n.children.find((c) => c.name === parent);
      return p ? p.children.filter((c) => c.name === child) : undefined;
    };
    const texts = async (nodes: XNode[] | undefined) => {
      if (!nodes) return undefined;
      const out: string[] = [];
      for (const x of nodes) out.push(await this.text(x));
      return out;
    };
    const claims: RequiredClaim[] = [];
    for (const c of list("required-claims", "claim") ?? []) {
      const values = (await texts(c.children.filter((v) => v.name === "value"))) ?? [];
      claims.push({ name: c.attrs["name"] ?? "", match: (c.attrs["match"] ?? "all").toLowerCase() === "any" ? "any" : "all", separator: c.attrs["separator"], values });
    }
    const urls: string[] = [];
    for (const c of n.children.filter((x) => x.name === "openid-config")) urls.push(await this.attr(c, "url", ""));
    const check = {
      token,
      requireExpirationTime: await flag("require-expiration-time", true),
      requireSignedTokens: await flag("require-signed-tokens", true),
      clockSkewSeconds: Number(await this.attr(n, "clock-skew", "0")) || 0,
      openIdConfigUrls: urls,
      audiences: await texts(list("audiences", "audience")),
      issuers: await texts(list("issuers", "issuer")),
      requiredClaims: claims,
    };
    this.current = n;
    try {
      await validateJwt(check, this.deps.openId);
    } catch (e) {
      if (!(e instanceof JwtFailure)) throw e;
      const message = bodyMessage ?? e.message;
      throw new PolicyError("validate-jwt", e.reason, e.message, jsonResponse(httpCode, httpCode === 401 ? "Unauthorized" : "", { statusCode: httpCode, message }));
    }
    const output = n.attrs["output-token-variable-name"];
    if (output) await this.deps.host.set(this.deps.context, output, { type: "jwt", raw: token! });
  }

  private async jwtToken(n: XNode): Promise<string | undefined> {
    if (n.attrs["token-value"] !== undefined) return this.attr(n, "token-value", "");
    if (n.attrs["query-parameter-name"] !== undefined) return new URL(this.request.url).searchParams.get(n.attrs["query-parameter-name"]) ?? undefined;
    const headerName = n.attrs["header-name"] ?? "Authorization";
    const raw = getHeader(this.request.headers, headerName)?.join(",");
    if (raw === undefined) return undefined;
    // The scheme is only enforced (and stripped) for the Authorization header.
    if (headerName.toLowerCase() !== "authorization") return raw;
    const scheme = n.attrs["require-scheme"];
    const m = /^(\S+)\s+(.+)$/.exec(raw.trim());
    if (scheme) return m && m[1]!.toLowerCase() === scheme.toLowerCase() ? m[2] : undefined;
    return m && m[1]!.toLowerCase() === "bearer" ? m[2] : raw;
  }
}

function asText(v: string | number | boolean | null): string {
  if (v === null) return "";
  if (typeof v === "boolean") return v ? "True" : "False"; // .NET's bool.ToString()
  return String(v);
}

function toResponseInit(r: OutboundResponse): { status: number; reason: string; headers: HeaderBag; body: string } {
  return { status: r.status, reason: r.reason, headers: r.headers, body: r.body };
}
