// The sandbox authority against the real @azure/identity (msal-node) and jose.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { ClientSecretCredential } from "@azure/identity";
import type { Sandbox } from "../../sandbox/index.js";
import { ARM_SCOPE, credential, startTestSandbox } from "../support/sandbox.js";

let sb: Sandbox;
beforeAll(async () => {
  ({ sb } = await startTestSandbox());
});
afterAll(async () => {
  await sb?.close();
});

async function token(form: Record<string, string>, tenant = sb.tenantId) {
  const res = await fetch(`${sb.authority}/${tenant}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe("Entra stand-in", () => {
  test("OpenID metadata (v2 and v1) and JWKS", async () => {
    const v2 = await (await fetch(`${sb.authority}/${sb.tenantId}/v2.0/.well-known/openid-configuration`)).json();
    expect(v2.issuer).toBe(`${sb.authority}/${sb.tenantId}/v2.0`);
    expect(v2.token_endpoint).toBe(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`);
    expect(v2.jwks_uri).toBe(`${sb.authority}/${sb.tenantId}/discovery/v2.0/keys`);
    const v1 = await (await fetch(`${sb.authority}/${sb.tenantId}/.well-known/openid-configuration`)).json();
    expect(v1.issuer).toBe(`https://sts.windows.net/${sb.tenantId}/`);
    const jwks = await (await fetch(v2.jwks_uri)).json();
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", use: "sig", alg: "RS256" });
    expect(jwks.keys[0].kid).toBeTruthy();
    expect(jwks.keys[0].d).toBeUndefined(); // never the private part
  });

  test("ClientSecretCredential gets an RS256 ARM token with Entra's claims", async () => {
    const t = await credential(sb).getToken(ARM_SCOPE);
    expect(t.expiresOnTimestamp - Date.now()).toBeGreaterThan(50 * 60_000);
    const jwks = createRemoteJWKSet(new URL(`${sb.authority}/${sb.tenantId}/discovery/v2.0/keys`));
    const { payload, protectedHeader } = await jwtVerify(t.token, jwks, { issuer: `https://sts.windows.net/${sb.tenantId}/`, audience: "https://management.azure.com" });
    expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "JWT" });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload).toMatchObject({ tid: sb.tenantId, appid: sb.clientId, ver: "1.0", idtyp: "app" });
    expect(payload.oid).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(payload.nbf).toBeLessThanOrEqual(payload.iat!);
  });

  test("a non-Microsoft resource gets a v2 token with azp", async () => {
    const r = await token({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope: "api://aeg-gateway/.default" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: "Bearer", expires_in: 3600, ext_expires_in: 3600 });
    const claims = decodeJwt(r.body["access_token"]);
    expect(claims).toMatchObject({ aud: "api://aeg-gateway", iss: `${sb.authority}/${sb.tenantId}/v2.0`, azp: sb.clientId, ver: "2.0" });
  });

  test("errors like Entra: bad secret, unknown client, bad scope, unknown tenant", async () => {
    const bad = await token({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: "wrong", scope: ARM_SCOPE });
    expect(bad.status).toBe(401);
    expect(bad.body["error"]).toBe("invalid_client");
    expect(bad.body["error_description"]).toMatch(/^AADSTS7000215: Invalid client secret provided/);
    expect(bad.body["error_codes"]).toEqual([7000215]);
    const unknown = await token({ grant_type: "client_credentials", client_id: "00000000-0000-0000-0000-000000000009", client_secret: "x", scope: ARM_SCOPE });
    expect(unknown.status).toBe(400);
    expect(unknown.body["error"]).toBe("unauthorized_client");
    const scope = await token({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope: "https://management.azure.com/user_impersonation" });
    expect(scope.body["error"]).toBe("invalid_scope");
    const tenant = await token({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope: ARM_SCOPE }, "contoso.onmicrosoft.com");
    expect(tenant.body["error_codes"]).toEqual([90002]);

    const cred = new ClientSecretCredential(sb.tenantId, sb.clientId, "wrong", { authorityHost: sb.authority, disableInstanceDiscovery: true });
    await expect(cred.getToken(ARM_SCOPE)).rejects.toThrow(/AADSTS7000215/);
  });

  test("the reader app authenticates too", async () => {
    const t = await credential(sb, "reader").getToken(ARM_SCOPE);
    expect(decodeJwt(t.token)["appid"]).toBe(sb.readerClientId);
  });
});

describe("other listeners", () => {
  test("graph, dataverse and gateway exist and answer a JSON 404 for unknown paths", async () => {
    for (const base of [sb.graph, sb.dataverse, sb.gateway]) {
      expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${base}/nothing/here`);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/application\/json/);
      const body = await res.json();
      // The gateway answers like APIM ({statusCode, message}); the others with an OData-style error.
      if (base === sb.gateway) expect(body).toEqual({ statusCode: 404, message: "Resource not found" });
      else expect(body.error.message).toContain("/nothing/here");
    }
  });
});
