// The ARM front door: admin paths, faults, authentication, subscription and api-version checks,
// RBAC, dispatch to the resource providers, standard headers, traffic recording, persistence.
import fs from "node:fs";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { HttpError, Router, header, toReq, writeReply, type Reply, type Req } from "../http.js";
import { verifyToken, type EntraContext } from "../entra.js";
import type { Store } from "../store.js";
import { armError, type ArmContext, type RouteTag } from "./common.js";
import { FaultsAndCounters, faultReply } from "./faults.js";
import { registerResources } from "./resources.js";
import { registerApimService } from "./apim.js";
import { registerApimEntities } from "./apimEntities.js";
import { registerEventHub } from "./eventhub.js";
import { registerAuthorization } from "./authorization.js";
import { allowed, permissionsAt } from "./rbac.js";
import { eventsAdmin } from "./eventsAdmin.js";
import { answerDelayMs, isWrite, operationMs } from "./latency.js";
import { ApiLocks, apiInProgressReply, apiLockKey } from "./apiLocks.js";
import { WriteConcurrency } from "./concurrency.js";

const KNOWN_PROVIDERS = ["microsoft.apimanagement", "microsoft.eventhub", "microsoft.authorization", "microsoft.resources"];

/** Audiences ARM accepts: its resource ids, plus the sandbox ARM URL itself. */
function armAudiences(armBase: string): string[] {
  return ["https://management.azure.com", "https://management.azure.com/", "https://management.core.windows.net", "https://management.core.windows.net/", armBase, `${armBase}/`];
}

/** `Provider/type/subtype` of the last provider segment in a path (for errors and RBAC actions). */
function resourceTypeOf(path: string): { namespace: string; type: string } {
  const segs = path.split("/").filter(Boolean);
  const i = segs.map((s) => s.toLowerCase()).lastIndexOf("providers");
  if (i < 0) {
    if (segs.length >= 3 && segs[2]!.toLowerCase() === "resourcegroups") return { namespace: "Microsoft.Resources", type: "Microsoft.Resources/subscriptions/resourceGroups" };
    return { namespace: "Microsoft.Resources", type: "Microsoft.Resources/subscriptions" };
  }
  const ns = segs[i + 1] ?? "";
  const types = segs.slice(i + 2).filter((_, k) => k % 2 === 0);
  return { namespace: ns, type: [ns, ...types].join("/") };
}

function actionOf(method: string, path: string): string {
  const { type } = resourceTypeOf(path);
  if (method === "DELETE") return `${type}/delete`;
  if (method === "POST") {
    const segs = path.split("/").filter(Boolean);
    return `${resourceTypeOf(segs.slice(0, -1).join("/")).type}/${segs[segs.length - 1]}/action`;
  }
  return `${type}/write`;
}

export class ArmServer {
  readonly counters = new FaultsAndCounters(() => this.ctx.opts.retryAfterSeconds);
  readonly concurrency = new WriteConcurrency();
  private readonly router = new Router<RouteTag>();

  constructor(
    private readonly ctx: ArmContext,
    private readonly entra: EntraContext,
    private readonly store: Store,
    private readonly trafficFile: string | undefined,
    /** APIM's API-level lock, when the sandbox models it (apiLocks.ts). */
    private readonly apiLocks?: ApiLocks,
  ) {
    registerResources(this.router, ctx);
    registerApimService(this.router, ctx);
    registerApimEntities(this.router, ctx);
    registerEventHub(this.router, ctx);
    registerAuthorization(this.router, ctx);
  }

  handle = async (raw: IncomingMessage, res: ServerResponse, base: string): Promise<void> => {
    const req = await toReq(raw, base);
    if (req.path.toLowerCase().startsWith("/_sandbox/")) {
      writeReply(res, eventsAdmin(req, this.ctx) ?? this.requestsAdmin(req) ?? this.counters.admin(req)!, req.method);
      return;
    }
    const fault = this.counters.take(req.method, req.path);
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.reset) {
      this.counters.count(req.method, req.path, 0);
      raw.socket.destroy();
      return;
    }
    let reply: Reply;
    if (fault?.status !== undefined) reply = faultReply(fault);
    else reply = await this.serve(req);
    const correlation = header(req, "x-ms-correlation-request-id") ?? randomUUID();
    const requestId = randomUUID();
    reply.headers = {
      "x-ms-request-id": requestId,
      "x-ms-correlation-request-id": correlation,
      "x-ms-routing-request-id": `SANDBOX:${new Date().toISOString().replace(/[-:.]/g, "")}:${requestId}`,
      "Cache-Control": "no-cache",
      ...(req.method === "GET" || req.method === "HEAD" ? { "x-ms-ratelimit-remaining-subscription-reads": "249" } : { "x-ms-ratelimit-remaining-subscription-writes": "199" }),
      ...(reply.headers ?? {}),
    };
    const clientRequestId = header(req, "x-ms-client-request-id");
    if (clientRequestId) reply.headers["x-ms-client-request-id"] = clientRequestId;
    // A write is on disk before it is answered; reads are saved together, after a burst.
    if (isWrite(req.method, req.path)) this.store.persist();
    else this.store.persistSoon();
    const sent = writeReply(res, reply, req.method);
    this.counters.count(req.method, req.path, reply.status);
    // A request rejected because it names no emulated operation has no spec operation to be
    // checked against; the rejection itself is the signal, so it is not recorded.
    if (!req.unrouted) {
      const url = raw.url ?? "";
      this.record(req, url.includes("?") ? url.slice(url.indexOf("?")) : "", reply, sent);
    }
  };

  /**
   * Answers after the latency model's delay, holding APIM's API lock (when modelled) for a write
   * under an API until its answer, or until the operation it started ends, plus the settle time.
   */
  private async serve(req: Req): Promise<Reply> {
    const write = isWrite(req.method, req.path);
    const lock = write && this.apiLocks ? apiLockKey(req.path) : undefined;
    if (lock !== undefined && !this.apiLocks!.enter(lock)) {
      this.concurrency.conflict();
      return apiInProgressReply();
    }
    const window = write ? this.concurrency.begin(/\/providers\/microsoft\.apimanagement\//i.test(req.path)) : undefined;
    let reply: Reply | undefined;
    try {
      const delay = answerDelayMs(this.ctx.opts.latency, req.method, req.path);
      if (delay > 0) await sleep(delay);
      reply = await this.dispatch(req).catch((e: unknown) => {
        if (e instanceof HttpError) return e.reply;
        throw e;
      });
      return reply;
    } finally {
      const accepted = reply !== undefined && reply.status < 300;
      const runs = accepted && reply!.headers?.["Azure-AsyncOperation"] ? operationMs(this.ctx.opts.latency, req.method, req.path) : 0;
      const endsAt = runs > 0 ? Date.now() + runs : undefined;
      window?.end(endsAt);
      if (lock !== undefined) this.apiLocks!.leave(lock, { accepted, ...(endsAt !== undefined ? { operationEndsAt: endsAt } : {}) });
    }
  }

  /** `/_sandbox/requests` with the write concurrency seen; undefined for the other admin paths. */
  private requestsAdmin(req: Req): Reply | undefined {
    const p = req.path.toLowerCase();
    if (p === "/_sandbox/requests" && req.method === "GET") {
      const counted = this.counters.admin(req)!;
      return { ...counted, body: { ...(counted.body as object), ...this.concurrency.snapshot() } };
    }
    if (p === "/_sandbox/requests/reset" && req.method === "POST") {
      this.concurrency.reset();
      return this.counters.admin(req);
    }
    return undefined;
  }

  private async dispatch(req: Req): Promise<Reply> {
    const s = this.ctx.state;
    const m = this.router.match(req.method, req.path);
    const apiVersion = req.query.get("api-version");
    // Requests that name no emulated operation (path, method or api-version) are answered but
    // not recorded: there is no spec operation to check them against.
    req.unrouted = !("handler" in m) || apiVersion !== m.tag.apiVersion;

    const denied = await this.authenticate(req);
    if (denied) return denied;
    const sub = /^\/subscriptions\/([^/]+)/i.exec(req.path)?.[1];
    if (sub && sub.toLowerCase() !== s.subscriptionId.toLowerCase()) {
      return armError(404, "SubscriptionNotFound", `The subscription '${sub}' could not be found.`);
    }
    if (!("handler" in m)) {
      const { namespace, type } = resourceTypeOf(req.path);
      if (m.methodMismatch) return armError(405, "MethodNotAllowed", `The requested method '${req.method}' is not allowed for '${req.path}'.`);
      if (!KNOWN_PROVIDERS.includes(namespace.toLowerCase())) {
        return armError(400, "NoRegisteredProviderFound", `No registered resource provider found for location 'global' and API version '${apiVersion ?? ""}' for type '${type}'. The sandbox emulates only ${KNOWN_PROVIDERS.join(", ")}.`);
      }
      return armError(400, "InvalidResourceType", `The resource type '${type.split("/").slice(1).join("/")}' could not be found in the namespace '${namespace}' for api version '${apiVersion ?? ""}'.`);
    }
    if (!apiVersion) return armError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    if (apiVersion !== m.tag.apiVersion) {
      return armError(400, "InvalidApiVersionParameter", `The api-version '${apiVersion}' is invalid. The supported versions are '${m.tag.apiVersion}'.`);
    }
    const forbidden = this.authorize(req);
    if (forbidden) return forbidden;
    req.params = m.params;
    return m.handler(req);
  }

  /** Checks the bearer token like ARM: signature, lifetime, issuer and audience. */
  private async authenticate(req: Req): Promise<Reply | undefined> {
    const authority = `${this.entra.authority()}/${this.ctx.state.tenantId}`;
    const challenge = (error: string, description: string, code: string, message: string): Reply => ({
      ...armError(401, code, message),
      headers: { "WWW-Authenticate": `Bearer authorization_uri="${authority}", error="${error}", error_description="${description}"` },
    });
    const auth = header(req, "authorization");
    if (!auth) return challenge("invalid_token", "The authentication failed because of missing 'Authorization' header.", "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) return challenge("invalid_token", "The authentication scheme must be Bearer.", "AuthenticationFailedInvalidHeader", "Authentication failed. The 'Authorization' header is provided in an invalid format.");
    const v = await verifyToken(this.entra, m[1]!, armAudiences(this.ctx.urls.arm()));
    if (v.ok) {
      req.caller = { objectId: v.claims.oid, appId: String(v.claims.appid ?? v.claims.azp ?? "") };
      return undefined;
    }
    if (v.reason === "expired") {
      const exp = new Date(Number(v.detail) * 1000).toISOString();
      return challenge("invalid_token", "The access token expiry UTC time is earlier than current UTC time.", "ExpiredAuthenticationToken", `The access token expiry UTC time '${exp}' is earlier than current UTC time '${new Date().toISOString()}'.`);
    }
    if (v.reason === "audience") {
      return challenge("invalid_token", "The access token has been obtained for wrong audience or resource.", "InvalidAuthenticationTokenAudience", `The access token has been obtained for wrong audience or resource '${v.detail}'. It should exactly match with one of the allowed audiences '${armAudiences(this.ctx.urls.arm()).join("','")}'.`);
    }
    return challenge("invalid_token", "The access token is invalid.", "InvalidAuthenticationToken", "The access token is invalid.");
  }

  /**
   * RBAC on writes: a PUT, PATCH, DELETE or POST action is allowed when one of the caller's role
   * assignments at or above the path grants its action; otherwise Azure's 403. Reads are not
   * enforced: the checks aeg makes are about writes, and the tenant's applications all may read.
   */
  private authorize(req: Req): Reply | undefined {
    if (req.method === "GET" || req.method === "HEAD") return undefined;
    const caller = req.caller!;
    const action = actionOf(req.method, req.path);
    if (allowed(permissionsAt(this.ctx.state, caller.objectId, req.path), action)) return undefined;
    return armError(
      403,
      "AuthorizationFailed",
      `The client '${caller.appId}' with object id '${caller.objectId}' does not have authorization to perform action '${action}' over scope '${req.path}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }

  private record(req: Req, search: string, reply: Reply, sent: string | undefined): void {
    if (!this.trafficFile) return;
    const reqHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) reqHeaders[k] = k === "authorization" ? "Bearer <redacted>" : Array.isArray(v) ? v.join(", ") : v;
    let resBody: unknown;
    if (sent !== undefined) {
      try {
        resBody = JSON.parse(sent);
      } catch {
        resBody = sent;
      }
    }
    const line = {
      liveRequest: { url: `${req.base}${req.path}${search}`, method: req.method, headers: reqHeaders, body: req.body },
      liveResponse: { statusCode: String(reply.status), headers: reply.headers ?? {}, body: resBody },
    };
    fs.appendFileSync(this.trafficFile, JSON.stringify(line) + "\n");
  }
}

