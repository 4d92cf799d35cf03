// Persona access tokens: RS256 JWTs shaped like the delegated (user) tokens Entra issues to an API,
// signed with the sandbox key so the gateway validates them against the sandbox JWKS.
//
// v1 and v2 differ the way Entra's do: v1 carries `upn`, `unique_name`, `amr`, `appid` and the
// `x5t` header; v2 carries `preferred_username`, `azp`, and `upn` only when the API registration
// adds it as an optional claim (Persona.upnInV2). Past 200 groups the `groups` claim is replaced
// by the overage indicator pointing at the (legacy) Azure AD Graph endpoint, as Entra does.
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { TOKEN_LIFETIME_S, v1Issuer, v2Issuer, type EntraContext } from "../entra.js";
import { PERSONAS, PERSONA_CLIENT_APP_ID, findPersona, hasOverage, type Persona } from "./personas.js";

export type TokenVersion = "v1" | "v2";

export interface PersonaTokenRequest {
  /** A persona, or its name / UPN. */
  persona: Persona | string;
  /** Used verbatim as `aud` (v1: App ID URI or client id; v2 tokens really carry the client id). */
  audience: string;
  version: TokenVersion;
}

export class UnknownPersonaError extends Error {}

export function resolvePersona(p: Persona | string, personas: Persona[] = PERSONAS): Persona {
  if (typeof p !== "string") return p;
  const found = findPersona(personas, p);
  if (!found) throw new UnknownPersonaError(`No sandbox persona named '${p}'. Known: ${personas.map((x) => x.name).join(", ")}.`);
  return found;
}

/** `sub` is pairwise in Entra (per user and app); a hash keeps it stable and distinct from `oid`. */
function pairwiseSub(oid: string, audience: string): string {
  return createHash("sha256").update(`${oid}|${audience}`).digest("base64url").slice(0, 43);
}

function personaClaims(ctx: EntraContext, persona: Persona, audience: string, version: TokenVersion): Record<string, unknown> {
  const tid = ctx.state.tenantId;
  const [given, ...rest] = persona.displayName.split(" ");
  const claims: Record<string, unknown> = {
    aud: audience,
    tid,
    oid: persona.oid,
    sub: pairwiseSub(persona.oid, audience),
    name: persona.displayName,
    scp: "user_impersonation",
    uti: randomUUID().replace(/-/g, "").slice(0, 22),
  };
  if (version === "v1") {
    Object.assign(claims, {
      ver: "1.0",
      upn: persona.upn,
      unique_name: persona.upn,
      given_name: given,
      family_name: rest.join(" "),
      amr: ["pwd", "mfa"],
      appid: PERSONA_CLIENT_APP_ID,
      appidacr: "0",
    });
  } else {
    Object.assign(claims, { ver: "2.0", preferred_username: persona.upn, azp: PERSONA_CLIENT_APP_ID, azpacr: "0" });
    if (persona.upnInV2) claims["upn"] = persona.upn;
  }
  if (hasOverage(persona)) {
    claims["_claim_names"] = { groups: "src1" };
    claims["_claim_sources"] = { src1: { endpoint: `https://graph.windows.net/${tid}/users/${persona.oid}/getMemberObjects` } };
  } else {
    claims["groups"] = [...persona.groups];
  }
  return claims;
}

/** Mints a persona's access token for `audience`. */
export async function mintPersonaToken(ctx: EntraContext, req: PersonaTokenRequest): Promise<string> {
  if (req.version !== "v1" && req.version !== "v2") throw new Error(`version must be "v1" or "v2", not ${JSON.stringify(req.version)}.`);
  if (!req.audience) throw new Error("audience is required.");
  const persona = resolvePersona(req.persona);
  const tid = ctx.state.tenantId;
  const now = Math.floor(Date.now() / 1000);
  const kid = ctx.pki.signing.publicJwk.kid;
  // v1 headers carry x5t as well as kid (the sandbox key's x5t is its kid, as in the JWKS).
  const header = req.version === "v1" ? { alg: "RS256", typ: "JWT", kid, x5t: kid } : { alg: "RS256", typ: "JWT", kid };
  return new SignJWT(personaClaims(ctx, persona, req.audience, req.version))
    .setProtectedHeader(header)
    .setIssuer(req.version === "v1" ? v1Issuer(tid) : v2Issuer(ctx.authority(), tid))
    .setIssuedAt(now)
    .setNotBefore(now - 5 * 60)
    .setExpirationTime(now + TOKEN_LIFETIME_S)
    .sign(ctx.pki.signing.privateKey);
}
