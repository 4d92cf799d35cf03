import type { TokenCredential } from "@azure/core-auth";
import { decodeJwt } from "jose";
import { armScope, type CloudProfile } from "./cloud.js";

/** Who a credential signs in as: read from the claims of an ARM token, never the token itself. */
export interface SignedIn {
  objectId: string;
  /** The user's name or UPN, or the application's id for a service principal or managed identity. */
  name: string;
  tenantId: string;
}

export async function signedIn(credential: TokenCredential, cloud: CloudProfile): Promise<SignedIn> {
  const token = await credential.getToken(armScope(cloud));
  const claims = token ? decodeJwt(token.token) : {};
  const text = (key: string) => (typeof claims[key] === "string" ? (claims[key] as string) : undefined);
  return {
    objectId: text("oid") ?? "unknown",
    name: text("upn") ?? text("unique_name") ?? text("name") ?? text("appid") ?? text("azp") ?? "unknown",
    tenantId: text("tid") ?? "unknown",
  };
}
