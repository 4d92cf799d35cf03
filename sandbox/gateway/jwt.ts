// validate-jwt: signature by `kid` against keys from openid-config documents (fetched over HTTPS
// and cached per URL), lifetime, audiences, issuers and required claims, in IdentityModel's order,
// each failure carrying APIM's LastError.Reason.
import { compactVerify, decodeProtectedHeader, importJWK, type JWK, type JWTPayload } from "jose";
import type { OutboundClient } from "./outbound.js";

export type JwtReason =
  | "TokenNotPresent"
  | "JwtInvalid"
  | "TokenSignatureInvalid"
  | "TokenSignatureKeyNotFound"
  | "TokenExpired"
  | "TokenAudienceNotAllowed"
  | "TokenIssuerNotAllowed"
  | "TokenClaimNotFound"
  | "TokenClaimValueNotAllowed";

export class JwtFailure extends Error {
  constructor(
    readonly reason: JwtReason,
    message: string,
  ) {
    super(message);
  }
}

export interface RequiredClaim {
  name: string;
  match: "all" | "any";
  separator?: string;
  values: string[];
}

export interface JwtCheck {
  token: string | undefined;
  requireExpirationTime: boolean;
  requireSignedTokens: boolean;
  clockSkewSeconds: number;
  openIdConfigUrls: string[];
  /** Undefined = no <audiences> element: audience is not checked. */
  audiences?: string[];
  /** Undefined = no <issuers> element: the openid-config issuers apply. */
  issuers?: string[];
  requiredClaims: RequiredClaim[];
}

interface OpenIdEntry {
  issuer?: string;
  keys: JWK[];
  fetchedAt: number;
}

const CONFIG_TTL_MS = 3600_000; // APIM re-pulls the documents hourly
const REPULL_MIN_MS = 5 * 60_000; // and at most every five minutes on an unknown kid
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/** openid-config documents and their JWKS, cached per configuration URL. */
export class OpenIdCache {
  private readonly entries = new Map<string, OpenIdEntry>();

  constructor(private readonly client: OutboundClient) {}

  async get(url: string, forceIfOlderThanMs?: number): Promise<OpenIdEntry> {
    const e = this.entries.get(url);
    const age = e ? Date.now() - e.fetchedAt : Infinity;
    if (e && age < CONFIG_TTL_MS && (forceIfOlderThanMs === undefined || age < forceIfOlderThanMs)) return e;
    const config = await this.json(url);
    const jwksUri = typeof config["jwks_uri"] === "string" ? config["jwks_uri"] : undefined;
    if (!jwksUri) throw new Error(`The OpenID configuration at '${url}' has no jwks_uri.`);
    const jwks = await this.json(jwksUri);
    const keys = Array.isArray(jwks["keys"]) ? (jwks["keys"] as JWK[]) : [];
    const entry = { issuer: typeof config["issuer"] === "string" ? config["issuer"] : undefined, keys, fetchedAt: Date.now() };
    this.entries.set(url, entry);
    return entry;
  }

  private async json(url: string): Promise<Record<string, unknown>> {
    const res = await this.client.call({ method: "GET", url, headers: { accept: ["application/json"] } }, 30_000);
    if (res.status !== 200) throw new Error(`GET '${url}' answered ${res.status}.`);
    return JSON.parse(res.body) as Record<string, unknown>;
  }
}

const fail = (reason: JwtReason, message: string): never => {
  throw new JwtFailure(reason, message);
};

/** Validates a token; returns its payload or throws JwtFailure. */
export async function validateJwt(check: JwtCheck, cache: OpenIdCache): Promise<JWTPayload> {
  const token = check.token?.trim();
  if (!token) return fail("TokenNotPresent", "JWT not present.");
  const parts = token.split(".");
  if (parts.length !== 3) return fail("JwtInvalid", "JWT Validation Failed: JWT not well formed.");
  let header: { alg?: string; kid?: string };
  let payload: JWTPayload;
  try {
    header = decodeProtectedHeader(token);
    payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as JWTPayload;
    if (!payload || typeof payload !== "object") throw new Error("payload");
  } catch {
    return fail("JwtInvalid", "JWT Validation Failed: JWT not well formed.");
  }

  // 1. Signature.
  const unsigned = !header.alg || header.alg.toLowerCase() === "none" || !parts[2];
  if (unsigned) {
    if (check.requireSignedTokens) fail("TokenSignatureInvalid", "JWT Validation Failed: The token is not signed and require-signed-tokens is set.");
  } else {
    if (!ALGORITHMS.includes(header.alg!)) fail("TokenSignatureInvalid", `JWT Validation Failed: Algorithm '${header.alg}' is not supported.`);
    await verifySignature(token, header, check, cache);
  }

  // 2. Lifetime.
  const now = Date.now() / 1000;
  const skew = check.clockSkewSeconds;
  if (typeof payload.exp !== "number") {
    if (check.requireExpirationTime) fail("TokenExpired", "JWT Validation Failed: Lifetime validation failed. The token is missing an Expiration Time.");
  } else if (now > payload.exp + skew) {
    fail("TokenExpired", `JWT Validation Failed: Lifetime validation failed. The token is expired. ValidTo (UTC): '${iso(payload.exp)}', Current time (UTC): '${iso(now)}'.`);
  }
  if (typeof payload.nbf === "number" && now + skew < payload.nbf) {
    fail("TokenExpired", `JWT Validation Failed: Lifetime validation failed. The token is not yet valid. ValidFrom (UTC): '${iso(payload.nbf)}', Current time (UTC): '${iso(now)}'.`);
  }

  // 3. Audience.
  if (check.audiences) {
    const auds = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!auds.some((a) => check.audiences!.includes(a))) {
      fail("TokenAudienceNotAllowed", `JWT Validation Failed: Audience validation failed. Audiences: '${auds.join(", ")}'. Did not match: validationParameters.ValidAudiences: '${check.audiences.join(", ")}'.`);
    }
  }

  // 4. Issuer: the <issuers> list, else the issuers of the openid-config documents.
  let validIssuers = check.issuers;
  if (!validIssuers && check.openIdConfigUrls.length) {
    validIssuers = [];
    for (const url of check.openIdConfigUrls) {
      const iss = (await cache.get(url).catch(() => undefined))?.issuer;
      if (iss) validIssuers.push(iss);
    }
  }
  if (validIssuers && !validIssuers.includes(String(payload.iss ?? ""))) {
    fail("TokenIssuerNotAllowed", `JWT Validation Failed: Issuer validation failed. Issuer: '${String(payload.iss ?? "")}'. Did not match: validationParameters.ValidIssuers: '${validIssuers.join(", ")}'.`);
  }

  // 5. Required claims.
  const missing = check.requiredClaims.filter((c) => payload[c.name] === undefined || payload[c.name] === null).map((c) => c.name);
  if (missing.length) fail("TokenClaimNotFound", `JWT token is missing the following claims: ${missing.join(", ")}`);
  for (const c of check.requiredClaims) {
    if (!c.values.length) continue; // a claim without values only has to be present
    const present = claimValues(payload[c.name], c.separator);
    const ok = c.match === "any" ? c.values.some((v) => present.includes(v)) : c.values.every((v) => present.includes(v));
    if (!ok) fail("TokenClaimValueNotAllowed", `Claim ${c.name} value of ${present.join(c.separator ?? ",")} is not allowed.`);
  }
  return payload;
}

async function verifySignature(token: string, header: { alg?: string; kid?: string }, check: JwtCheck, cache: OpenIdCache): Promise<void> {
  if (!check.openIdConfigUrls.length) fail("TokenSignatureKeyNotFound", "JWT Validation Failed: No signing keys are configured (openid-config or issuer-signing-keys).");
  const keysFor = async (forceIfOlderThanMs?: number) => {
    const keys: JWK[] = [];
    for (const url of check.openIdConfigUrls) {
      const entry = await cache.get(url, forceIfOlderThanMs).catch((e: Error) => fail("TokenSignatureKeyNotFound", `JWT Validation Failed: Unable to obtain configuration from '${url}': ${e.message}`));
      keys.push(...entry.keys);
    }
    return header.kid ? keys.filter((k) => k.kid === header.kid) : keys;
  };
  let candidates = await keysFor();
  if (!candidates.length) candidates = await keysFor(REPULL_MIN_MS);
  if (!candidates.length) fail("TokenSignatureKeyNotFound", `JWT Validation Failed: Signature validation failed. Unable to match key: kid: '${header.kid ?? ""}'.`);
  for (const jwk of candidates) {
    try {
      await compactVerify(token, await importJWK(jwk, header.alg), { algorithms: [header.alg!] });
      return;
    } catch {
      // try the next key with this kid
    }
  }
  fail("TokenSignatureInvalid", "JWT Validation Failed: Signature validation failed.");
}

function claimValues(v: unknown, separator: string | undefined): string[] {
  const raw = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
  const strings = raw.map((x) => (typeof x === "string" ? x : typeof x === "object" ? JSON.stringify(x) : String(x)));
  return separator ? strings.flatMap((s) => s.split(separator)) : strings;
}

const iso = (s: number) => new Date(s * 1000).toISOString();
