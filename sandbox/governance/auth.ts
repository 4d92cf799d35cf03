// Bearer-token check shared by the Dataverse and Graph stand-ins: the sandbox Entra must have
// signed it (signature, lifetime, issuer, tenant), and its audience must satisfy the service's rule.
import { decodeJwt } from "jose";
import { header, type Req } from "../http.js";
import { verifyToken, type EntraContext, type TokenClaims } from "../entra.js";

export type BearerResult = { ok: true; claims: TokenClaims } | { ok: false; why: "missing" | "malformed" | "expired" | "invalid" | "audience"; detail: string };

export async function checkBearer(entra: EntraContext, req: Req, audienceOk: (aud: string) => boolean): Promise<BearerResult> {
  const auth = header(req, "authorization");
  if (!auth) return { ok: false, why: "missing", detail: "" };
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m) return { ok: false, why: "malformed", detail: "" };
  const token = m[1]!;
  // The audience rule may be a pattern (Dataverse org URLs), so read `aud` first and hand
  // verifyToken the exact value only when the rule accepts it; it still checks everything else.
  let aud = "";
  try {
    aud = String(decodeJwt(token).aud ?? "");
  } catch {
    return { ok: false, why: "invalid", detail: "not a JWT" };
  }
  const v = await verifyToken(entra, token, audienceOk(aud) ? [aud] : []);
  if (v.ok) return { ok: true, claims: v.claims };
  return { ok: false, why: v.reason, detail: v.detail };
}
