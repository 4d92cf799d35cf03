// The Entra ID stand-in (authority listener): OpenID metadata, JWKS and a client-credentials
// token endpoint, plus the token verification every other listener uses.
//
// Issuer choice: tokens for Microsoft first-party resources (ARM, Graph, Dataverse, and the
// sandbox's own listener URLs) are v1 tokens with iss `https://sts.windows.net/{tid}/` and
// `appid`, exactly like the tokens real ARM receives; any other resource gets a v2 token with
// iss `{authority}/{tid}/v2.0` and `azp`, as Entra does for apps that accept v2 tokens.
import { randomUUID } from "node:crypto";
import { SignJWT, jwtVerify, importJWK, errors as joseErrors, type JWTPayload } from "jose";
import { Router, json, type Reply, type Req } from "./http.js";
import type { TenantState, AppRecord } from "./store.js";
import type { Pki } from "./pki.js";

export const TOKEN_LIFETIME_S = 3600;

/** Resources whose tokens are v1 (first-party Microsoft APIs). */
const V1_RESOURCES = [
  "https://management.azure.com",
  "https://management.core.windows.net",
  "https://graph.microsoft.com",
  "https://graph.windows.net",
];

export interface EntraContext {
  state: TenantState;
  pki: Pki;
  authority: () => string;
  /** Base URLs of the sandbox's own listeners, treated as first-party resources. */
  ownResources: () => string[];
}

export interface TokenClaims extends JWTPayload {
  tid: string;
  oid: string;
  appid?: string;
  azp?: string;
}

function aadError(status: number, error: string, code: number, description: string): Reply {
  const now = new Date().toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  const trace = randomUUID();
  const corr = randomUUID();
  return json(status, {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${trace} Correlation ID: ${corr} Timestamp: ${now}`,
    error_codes: [code],
    timestamp: now,
    trace_id: trace,
    correlation_id: corr,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

function stripSlash(s: string): string {
  return s.replace(/\/+$/, "");
}

function isV1Resource(resource: string, ctx: EntraContext): boolean {
  const r = stripSlash(resource.toLowerCase());
  return V1_RESOURCES.includes(r) || ctx.ownResources().some((o) => stripSlash(o.toLowerCase()) === r) || /\.dynamics\.com$|\.crm\d*\.dynamics\.com$/.test(r);
}

export function v1Issuer(tid: string): string {
  return `https://sts.windows.net/${tid}/`;
}

export function v2Issuer(authority: string, tid: string): string {
  return `${authority}/${tid}/v2.0`;
}

/** Issues an access token for an app (or managed identity) to a resource. */
export async function issueToken(ctx: EntraContext, subject: { appId: string; objectId: string; displayName?: string }, resource: string): Promise<string> {
  const tid = ctx.state.tenantId;
  const now = Math.floor(Date.now() / 1000);
  const v1 = isV1Resource(resource, ctx);
  const claims: Record<string, unknown> = {
    aud: resource,
    tid,
    oid: subject.objectId,
    sub: subject.objectId,
    idtyp: "app",
    uti: randomUUID().replace(/-/g, "").slice(0, 22),
  };
  if (v1) Object.assign(claims, { ver: "1.0", appid: subject.appId, appidacr: "1", app_displayname: subject.displayName });
  else Object.assign(claims, { ver: "2.0", azp: subject.appId, azpacr: "1" });
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: ctx.pki.signing.publicJwk.kid })
    .setIssuer(v1 ? v1Issuer(tid) : v2Issuer(ctx.authority(), tid))
    .setIssuedAt(now)
    .setNotBefore(now - 5 * 60) // Entra backdates nbf by five minutes for clock skew
    .setExpirationTime(now + TOKEN_LIFETIME_S)
    .sign(ctx.pki.signing.privateKey);
}

export type VerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: "expired" | "invalid" | "audience"; detail: string };

/** Verifies signature, lifetime, issuer/tenant and audience of a bearer token. */
export async function verifyToken(ctx: EntraContext, token: string, audiences: string[]): Promise<VerifyResult> {
  let payload: JWTPayload;
  try {
    const key = await importJWK(ctx.pki.signing.publicJwk, "RS256");
    ({ payload } = await jwtVerify(token, key, { algorithms: ["RS256"] }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired", detail: String((e.payload as JWTPayload).exp ?? "") };
    return { ok: false, reason: "invalid", detail: String(e) };
  }
  const tid = ctx.state.tenantId;
  const issOk = payload.iss === v1Issuer(tid) || payload.iss === v2Issuer(ctx.authority(), tid);
  if (!issOk || payload["tid"] !== tid) return { ok: false, reason: "invalid", detail: "issuer" };
  const aud = String(payload.aud ?? "");
  if (!audiences.some((a) => a.toLowerCase() === aud.toLowerCase())) return { ok: false, reason: "audience", detail: aud };
  return { ok: true, claims: payload as TokenClaims };
}

function findApp(state: TenantState, clientId: string): AppRecord | undefined {
  return Object.values(state.apps).find((a) => a.clientId.toLowerCase() === clientId.toLowerCase());
}

function openIdConfigV2(base: string, tid: string) {
  const t = `${base}/${tid}`;
  return {
    token_endpoint: `${t}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${t}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: v2Issuer(base, tid),
    request_uri_parameter_supported: false,
    userinfo_endpoint: "https://graph.microsoft.com/oidc/userinfo",
    authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${t}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${t}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
    kerberos_endpoint: `${t}/kerberos`,
    tenant_region_scope: "NA",
    cloud_instance_name: "microsoftonline.com",
    cloud_graph_host_name: "graph.windows.net",
    msgraph_host: "graph.microsoft.com",
    rbac_url: "https://pas.windows.net",
  };
}

function openIdConfigV1(base: string, tid: string) {
  const t = `${base}/${tid}`;
  return {
    token_endpoint: `${t}/oauth2/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${t}/discovery/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "token id_token", "token"],
    scopes_supported: ["openid"],
    issuer: v1Issuer(tid),
    authorization_endpoint: `${t}/oauth2/authorize`,
    device_authorization_endpoint: `${t}/oauth2/devicecode`,
    end_session_endpoint: `${t}/oauth2/logout`,
    tenant_region_scope: "NA",
    cloud_instance_name: "microsoftonline.com",
    cloud_graph_host_name: "graph.windows.net",
    msgraph_host: "graph.microsoft.com",
    rbac_url: "https://pas.windows.net",
  };
}

/** Tenant segment: the GUID, or the aliases MSAL and tools use for a single-tenant directory. */
function tenantMatches(state: TenantState, seg: string | undefined): boolean {
  const s = (seg ?? "").toLowerCase();
  return s === state.tenantId.toLowerCase() || s === "organizations" || s === "common";
}

function unknownTenant(seg: string): Reply {
  return aadError(400, "invalid_request", 90002, `Tenant '${seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
}

export function entraRouter(ctx: EntraContext): Router<unknown> {
  const r = new Router<unknown>();
  const tid = () => ctx.state.tenantId;
  const jwks = () => json(200, { keys: [{ ...ctx.pki.signing.publicJwk, x5t: ctx.pki.signing.publicJwk.kid, issuer: v2Issuer(ctx.authority(), tid()) }] });

  const withTenant = (h: (req: Req) => Reply | Promise<Reply>) => (req: Req) =>
    tenantMatches(ctx.state, req.params["tenant"]) ? h(req) : unknownTenant(req.params["tenant"] ?? "");

  r.add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", withTenant((req) => json(200, openIdConfigV2(req.base, tid()))));
  r.add("GET", "/{tenant}/.well-known/openid-configuration", withTenant((req) => json(200, openIdConfigV1(req.base, tid()))));
  r.add("GET", "/{tenant}/discovery/v2.0/keys", withTenant(jwks));
  r.add("GET", "/{tenant}/discovery/keys", withTenant(jwks));
  r.add("GET", "/common/discovery/instance", (req) => {
    // Instance discovery (MSAL skips it with disableInstanceDiscovery, but other clients ask).
    const host = new URL(req.base).host;
    return json(200, {
      tenant_discovery_endpoint: `${req.base}/${tid()}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  });

  const tokenEndpoint = (version: 1 | 2) =>
    withTenant(async (req) => {
      const form = (req.body ?? {}) as Record<string, string>;
      let clientId = form["client_id"];
      let clientSecret = form["client_secret"];
      const basic = /^Basic\s+(.+)$/i.exec(String(req.headers["authorization"] ?? ""));
      if (basic) {
        const [id, secret] = Buffer.from(basic[1]!, "base64").toString("utf8").split(":");
        clientId = decodeURIComponent(id ?? "");
        clientSecret = decodeURIComponent(secret ?? "");
      }
      if (form["grant_type"] !== "client_credentials") {
        return aadError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${form["grant_type"] ?? ""}'.`);
      }
      if (!clientId) return aadError(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.");
      const app = findApp(ctx.state, clientId);
      if (!app) {
        return aadError(400, "unauthorized_client", 700016, `Application with identifier '${clientId}' was not found in the directory '${tid()}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
      }
      if (!clientSecret || clientSecret !== app.clientSecret) {
        return aadError(401, "invalid_client", 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`);
      }
      let resource: string;
      if (version === 2) {
        const scope = (form["scope"] ?? "").trim();
        if (!scope) return aadError(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
        const scopes = scope.split(/\s+/);
        if (scopes.length !== 1 || !scopes[0]!.endsWith("/.default")) {
          return aadError(400, "invalid_scope", 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
        }
        resource = scopes[0]!.slice(0, -"/.default".length);
      } else {
        resource = form["resource"] ?? "";
        if (!resource) return aadError(400, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'.");
      }
      const token = await issueToken(ctx, { appId: app.clientId, objectId: app.objectId, displayName: app.displayName }, resource);
      const body: Record<string, unknown> = { token_type: "Bearer", expires_in: TOKEN_LIFETIME_S, ext_expires_in: TOKEN_LIFETIME_S, access_token: token };
      if (version === 1) Object.assign(body, { expires_on: String(Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_S), not_before: String(Math.floor(Date.now() / 1000)), resource });
      return json(200, body, { "Cache-Control": "no-store, no-cache", Pragma: "no-cache" });
    });
  r.add("POST", "/{tenant}/oauth2/v2.0/token", tokenEndpoint(2));
  r.add("POST", "/{tenant}/oauth2/token", tokenEndpoint(1));
  return r;
}

export function entraNotFound(): Reply {
  return aadError(404, "not_found", 90027, "The requested endpoint does not exist in the sandbox authority.");
}
