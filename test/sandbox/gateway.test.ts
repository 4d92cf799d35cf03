// The sandbox APIM gateway, driven end to end: entities saved through ARM with the real SDK,
// requests over HTTPS with tokens from the sandbox Entra, expressions compiled by Mono.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SignJWT, decodeJwt, importJWK, generateKeyPair, type JWK } from "jose";
import type { Sandbox } from "../../sandbox/index.js";
import { FAST, admin, clients, credential, restError, startTestSandbox, tempDir } from "../support/sandbox.js";

const RG = "rg-gw";
const SVC = "apim-gw-test";
const AUD = "api://aeg-gw-test";
const DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";

let sb: Sandbox;
let dir: string;
let c: ReturnType<typeof clients>;
let principalId = "";
let goodToken = "";
let closedPort = 0;
let silent: net.Server;
let silentPort = 0;

const gw = (p: string, init: RequestInit = {}) => fetch(`${sb.gateway}/${SVC}${p}`, init);
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const opPolicy = (inbound: string, extra = "") => `<policies><inbound><base />${inbound}</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error>${extra}</policies>`;

async function putOperation(id: string, method: string, urlTemplate: string, policy?: string): Promise<void> {
  await c.apim.apiOperation.createOrUpdate(RG, SVC, "gw", id, { displayName: `Op ${id}`, method, urlTemplate });
  if (policy) await c.apim.apiOperationPolicy.createOrUpdate(RG, SVC, "gw", id, "policy", { value: policy, format: "rawxml" });
}

/** Signs a token like the sandbox Entra would, with overrides (or another key). */
async function mint(claims: Record<string, unknown>, opts: { alg?: string; key?: "sandbox" | "other"; omit?: string[] } = {}): Promise<string> {
  const jwk = JSON.parse(fs.readFileSync(path.join(dir, "signing-key.json"), "utf8")) as JWK;
  const key = opts.key === "other" ? (await generateKeyPair("RS256")).privateKey : await importJWK({ ...jwk, alg: "RS256" }, "RS256");
  const now = Math.floor(Date.now() / 1000);
  const base: Record<string, unknown> = { aud: AUD, iss: `${sb.authority}/${sb.tenantId}/v2.0`, tid: sb.tenantId, oid: "00000000-0000-0000-0000-0000000000aa", iat: now, nbf: now - 60, exp: now + 3600, ...claims };
  for (const k of opts.omit ?? []) delete base[k];
  return new SignJWT(base).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid! }).sign(key);
}

const errorBody = async (res: Response) => ({ status: res.status, ...(JSON.parse(await res.text()) as Record<string, string>) });

beforeAll(async () => {
  ({ sb, dir } = await startTestSandbox({ apimActivationMs: 50 }));
  c = clients(sb);
  await c.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
  const svc = await c.apim.apiManagementService.beginCreateOrUpdateAndWait(
    RG,
    SVC,
    { location: "West Europe", sku: { name: "Developer", capacity: 1 }, publisherEmail: "ops@contoso.com", publisherName: "Contoso", identity: { type: "SystemAssigned" } },
    FAST,
  );
  principalId = svc.identity!.principalId!;
  const nv = (name: string, value: string, secret = false) => c.apim.namedValue.beginCreateOrUpdateAndWait(RG, SVC, name, { displayName: name, value, secret }, FAST);
  await nv("gw-authority", sb.authority);
  await nv("gw-tenant", sb.tenantId);
  await nv("gw-audience", AUD, true);

  await c.eventHub.namespaces.createOrUpdate(RG, "aeg-gw-ns", { location: "West Europe", sku: { name: "Standard", tier: "Standard", capacity: 1 } }, FAST);
  await c.eventHub.eventHubs.createOrUpdate(RG, "aeg-gw-ns", "decisions", { partitionCount: 2 });
  await c.apim.logger.createOrUpdate(RG, SVC, "gw-logger", { loggerType: "azureEventHub", credentials: { endpointAddress: "aeg-gw-ns.servicebus.windows.net", identityClientId: "SystemAssigned", name: "decisions" } });

  const fragment = `<fragment>
  <validate-jwt header-name="Authorization" require-scheme="Bearer" output-token-variable-name="jwt" id="check-token">
    <openid-config url="{{gw-authority}}/{{gw-tenant}}/v2.0/.well-known/openid-configuration" />
    <audiences><audience>{{gw-audience}}</audience></audiences>
    <required-claims><claim name="tid" match="all"><value>{{gw-tenant}}</value></claim></required-claims>
  </validate-jwt>
</fragment>`;
  await c.apim.policyFragment.beginCreateOrUpdateAndWait(RG, SVC, "gw-jwt", { value: fragment, format: "rawxml" }, FAST);

  await c.apim.api.beginCreateOrUpdateAndWait(RG, SVC, "gw", { displayName: "Gateway API", path: "gw", serviceUrl: "https://backend.example.com", subscriptionRequired: false, protocols: ["https"] }, FAST);
  const apiPolicy = `<policies>
  <inbound><include-fragment fragment-id="gw-jwt" /><base /></inbound>
  <backend><base /></backend>
  <outbound><base /><set-header name="X-Api-Out" exists-action="override"><value>@(context.Api.Name + "/" + context.Operation.Id)</value></set-header></outbound>
  <on-error>
    <return-response>
      <set-status code="@(context.LastError.Source == "validate-jwt" ? 401 : 502)" reason="Policy Error" />
      <set-header name="Content-Type" exists-action="override"><value>application/json</value></set-header>
      <set-body>@(new JObject(new JProperty("source", context.LastError.Source), new JProperty("reason", context.LastError.Reason), new JProperty("message", context.LastError.Message), new JProperty("section", context.LastError.Section), new JProperty("scope", context.LastError.Scope), new JProperty("path", context.LastError.Path), new JProperty("policyId", context.LastError.PolicyId)).ToString(Formatting.None))</set-body>
    </return-response>
  </on-error>
</policies>`;
  await c.apim.apiPolicy.createOrUpdate(RG, SVC, "gw", "policy", { value: apiPolicy, format: "rawxml" });

  // A port nobody listens on, and one that accepts but never answers.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  silentPort = (silent.address() as net.AddressInfo).port;

  goodToken = (await credential(sb).getToken(`${AUD}/.default`)).token;
}, 120_000);

afterAll(async () => {
  silent?.close();
  await sb?.close();
});

describe("routing and forward-request", () => {
  test("forward-request answers as the echo backend; outbound headers reach the caller", async () => {
    await putOperation("echo", "GET", "/echo/{id}", opPolicy(`<set-header name="X-From-Policy" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-In", "none") + "-seen")</value></set-header><set-header name="X-Dropped" exists-action="delete" />`));
    const res = await gw("/gw/echo/42?x=1", { headers: { ...bearer(goodToken), "X-In": "hello", "X-Dropped": "1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-api-out")).toBe("Gateway API/echo");
    const body = (await res.json()) as { echo: boolean; method: string; url: string; headers: Record<string, string> };
    expect(body).toMatchObject({ echo: true, method: "GET", url: "https://backend.example.com/echo/42?x=1" });
    expect(body.headers["X-From-Policy"]).toBe("hello-seen");
    expect(Object.keys(body.headers).map((h) => h.toLowerCase())).not.toContain("authorization");
    expect(Object.keys(body.headers).map((h) => h.toLowerCase())).not.toContain("x-dropped");
  });

  test("unknown service, API or operation: APIM's 404", async () => {
    for (const url of [`${sb.gateway}/nope/gw/echo/1`, `${sb.gateway}/${SVC}/other/echo/1`, `${sb.gateway}/${SVC}/gw/missing`]) {
      const res = await fetch(url);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ statusCode: 404, message: "Resource not found" });
    }
  });
});

describe("validate-jwt", () => {
  const reasonFor = async (headers: Record<string, string>) => errorBody(await gw("/gw/echo/1", { headers }));

  test("failures reach on-error with LastError", async () => {
    const none = await reasonFor({});
    expect(none).toMatchObject({ status: 401, source: "validate-jwt", reason: "TokenNotPresent", message: "JWT not present.", section: "inbound", scope: "api", path: "validate-jwt[1]", policyId: "check-token" });
    expect((await reasonFor(bearer(await mint({}, { key: "other" })))).reason).toBe("TokenSignatureInvalid");
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify(decodeJwt(goodToken))).toString("base64url")}.`;
    expect((await reasonFor(bearer(unsigned))).reason).toBe("TokenSignatureInvalid");
    const now = Math.floor(Date.now() / 1000);
    expect((await reasonFor(bearer(await mint({ exp: now - 600, nbf: now - 7200, iat: now - 7200 })))).reason).toBe("TokenExpired");
    expect((await reasonFor(bearer(await mint({ aud: "api://someone-else" })))).reason).toBe("TokenAudienceNotAllowed");
    expect((await reasonFor(bearer(await mint({ iss: `https://sts.windows.net/${sb.tenantId}/` })))).reason).toBe("TokenIssuerNotAllowed");
    expect((await reasonFor(bearer(await mint({}, { omit: ["tid"] })))).reason).toBe("TokenClaimNotFound");
    expect((await reasonFor(bearer(await mint({ tid: "00000000-0000-0000-0000-000000000001" })))).reason).toBe("TokenClaimValueNotAllowed");
    expect((await reasonFor({ authorization: `Basic ${goodToken}` })).reason).toBe("TokenNotPresent");
    expect((await reasonFor(bearer("not-a-jwt"))).reason).toBe("JwtInvalid");
  });

  test("without on-error, the default 401 body", async () => {
    await c.apim.api.beginCreateOrUpdateAndWait(RG, SVC, "bare", { displayName: "Bare", path: "bare", serviceUrl: "https://bare.example.com", subscriptionRequired: false }, FAST);
    await c.apim.apiOperation.createOrUpdate(RG, SVC, "bare", "x", { displayName: "x", method: "GET", urlTemplate: "/x" });
    await c.apim.apiPolicy.createOrUpdate(RG, SVC, "bare", "policy", { value: '<policies><inbound><include-fragment fragment-id="gw-jwt" /><base /></inbound></policies>', format: "xml" });
    const res = await gw("/bare/x");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ statusCode: 401, message: "JWT not present." });
    const ok = await gw("/bare/x", { headers: bearer(goodToken) });
    expect(ok.status).toBe(200);
  });
});

describe("expressions and control flow", () => {
  test("choose, set-variable literal is a string, context values; return-response skips outbound", async () => {
    await putOperation("vars", "GET", "/vars", opPolicy(`
      <set-variable name="flag" value="true" />
      <set-variable name="typed" value="@(true)" />
      <choose>
        <when condition="@(context.Variables.GetValueOrDefault<string>("flag") == "true")">
          <return-response>
            <set-status code="201" reason="Made" />
            <set-header name="X-Branch" exists-action="override"><value>when</value></set-header>
            <set-body>@(new JObject(new JProperty("flagType", context.Variables["flag"].GetType().Name), new JProperty("typedType", context.Variables["typed"].GetType().Name), new JProperty("requestId", context.RequestId.ToString()), new JProperty("service", context.Deployment.ServiceName), new JProperty("region", context.Deployment.Region), new JProperty("api", context.Api.Name), new JProperty("operation", context.Operation.Name), new JProperty("oid", ((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("oid", ""))).ToString(Formatting.None))</set-body>
          </return-response>
        </when>
        <otherwise><set-header name="X-Branch" exists-action="override"><value>otherwise</value></set-header></otherwise>
      </choose>`));
    const res = await gw("/gw/vars", { headers: bearer(goodToken) });
    expect(res.status).toBe(201);
    expect(res.headers.get("x-branch")).toBe("when");
    expect(res.headers.get("x-api-out")).toBeNull();
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({ flagType: "String", typedType: "Boolean", service: SVC, region: "West Europe", api: "Gateway API", operation: "Op vars", oid: decodeJwt(goodToken).oid });
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const again = (await (await gw("/gw/vars", { headers: bearer(goodToken) })).json()) as Record<string, string>;
    expect(again.requestId).not.toBe(body.requestId);
  });

  test("an expression that throws goes to on-error as ExpressionValueEvaluationFailure", async () => {
    await putOperation("throws", "GET", "/throws", opPolicy(`<set-variable name="x" value="@(((string)null).Length)" />`));
    expect(await errorBody(await gw("/gw/throws", { headers: bearer(goodToken) }))).toMatchObject({ status: 502, source: "set-variable", reason: "ExpressionValueEvaluationFailure", scope: "operation", section: "inbound", path: "set-variable[1]" });
  });

  test("an unknown policy element is a clear 500", async () => {
    await putOperation("unknown", "GET", "/unknown", opPolicy(`<rewrite-uri template="/other" />`));
    const res = await gw("/gw/unknown", { headers: bearer(goodToken) });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { message: string }).message).toContain("rewrite-uri");
  });
});

describe("send-request", () => {
  test("typed IResponse; 4xx is a response, not an error", async () => {
    await putOperation("send", "GET", "/send", opPolicy(`
      <send-request mode="new" response-variable-name="cfg" timeout="10" ignore-error="false">
        <set-url>{{gw-authority}}/{{gw-tenant}}/v2.0/.well-known/openid-configuration</set-url>
        <set-method>GET</set-method>
      </send-request>
      <send-request response-variable-name="missing" timeout="10">
        <set-url>{{gw-authority}}/not-a-tenant/v2.0/.well-known/openid-configuration</set-url>
        <set-method>GET</set-method>
      </send-request>
      <return-response><set-body>@(new JObject(new JProperty("issuer", ((IResponse)context.Variables["cfg"]).Body.As<JObject>()["issuer"].ToString()), new JProperty("status", ((IResponse)context.Variables["cfg"]).StatusCode), new JProperty("missingStatus", ((IResponse)context.Variables["missing"]).StatusCode)).ToString(Formatting.None))</set-body></return-response>`));
    const res = await gw("/gw/send", { headers: bearer(goodToken) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ issuer: `${sb.authority}/${sb.tenantId}/v2.0`, status: 200, missingStatus: 400 });
  });

  test("closed port: an error, or null with ignore-error; a timeout", async () => {
    const call = (ignore: boolean, port: number, timeout: number) =>
      `<send-request response-variable-name="r" timeout="${timeout}" ignore-error="${ignore}" id="call-out"><set-url>https://127.0.0.1:${port}/x</set-url><set-method>GET</set-method></send-request>`;
    await putOperation("closed", "GET", "/closed", opPolicy(call(false, closedPort, 5)));
    expect(await errorBody(await gw("/gw/closed", { headers: bearer(goodToken) }))).toMatchObject({ status: 502, source: "send-request", reason: "BackendConnectionFailure", policyId: "call-out" });
    await putOperation("ignored", "GET", "/ignored", opPolicy(`${call(true, closedPort, 5)}<return-response><set-body>@(context.Variables.ContainsKey("r") && context.Variables.GetValueOrDefault<IResponse>("r") == null ? "null" : "other")</set-body></return-response>`));
    expect(await (await gw("/gw/ignored", { headers: bearer(goodToken) })).text()).toBe("null");
    await putOperation("slow", "GET", "/slow", opPolicy(call(false, silentPort, 1)));
    expect(await errorBody(await gw("/gw/slow", { headers: bearer(goodToken) }))).toMatchObject({ status: 502, source: "send-request", reason: "Timeout" });
  });
});

describe("authentication-managed-identity", () => {
  test("tokens for the APIM identity: Authorization on the request, or a variable", async () => {
    await putOperation("mi", "GET", "/mi", opPolicy(`
      <authentication-managed-identity resource="https://vault.example.test" />
      <authentication-managed-identity resource="@("https://storage.example.test")" output-token-variable-name="tok" />
      <return-response><set-body>@(new JObject(new JProperty("tok", context.Variables.GetValueOrDefault<string>("tok")), new JProperty("auth", context.Request.Headers.GetValueOrDefault("Authorization", ""))).ToString(Formatting.None))</set-body></return-response>`));
    const body = (await (await gw("/gw/mi", { headers: bearer(goodToken) })).json()) as { tok: string; auth: string };
    expect(decodeJwt(body.tok)).toMatchObject({ aud: "https://storage.example.test", oid: principalId, tid: sb.tenantId });
    expect(body.auth).toMatch(/^Bearer /);
    expect(decodeJwt(body.auth.slice(7))).toMatchObject({ aud: "https://vault.example.test", oid: principalId });
  });
});

describe("log-to-eventhub", () => {
  test("dropped without the Data Sender role, stored with it", async () => {
    await putOperation("log", "POST", "/log", opPolicy(`<log-to-eventhub logger-id="gw-logger">@(new JObject(new JProperty("corr", context.Request.Headers.GetValueOrDefault("X-Corr", ""))).ToString(Formatting.None))</log-to-eventhub>`));
    const since = new Date().toISOString();
    expect((await gw("/gw/log", { method: "POST", headers: { ...bearer(goodToken), "X-Corr": "one" }, body: "{}" })).status).toBe(200);
    expect((await admin(sb, "GET", `/eventhubs/aeg-gw-ns/decisions/events?since=${since}`)).events).toEqual([]);
    const stats = await admin(sb, "GET", "/gateway");
    expect(stats.dropped.at(-1).reason).toContain("Data Sender");

    const nsScope = `/subscriptions/${sb.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.EventHub/namespaces/aeg-gw-ns`;
    await c.authorization.roleAssignments.create(nsScope, "7b9f6c1e-3f0c-4a7e-9d3a-1c2b3d4e5f60", {
      roleDefinitionId: `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${DATA_SENDER}`,
      principalId,
      principalType: "ServicePrincipal",
    });
    for (const corr of ["two", "three"]) await gw("/gw/log", { method: "POST", headers: { ...bearer(goodToken), "X-Corr": corr }, body: "{}" });
    const events = (await admin(sb, "GET", `/eventhubs/aeg-gw-ns/decisions/events?since=${since}`)).events as { body: string; partitionId: string; sequenceNumber: number }[];
    expect(events.map((e) => JSON.parse(e.body).corr)).toEqual(["two", "three"]);
    expect(events.map((e) => e.partitionId).sort()).toEqual(["0", "1"]); // round robin
    expect(events.every((e) => e.sequenceNumber === 0)).toBe(true);
  });
});

describe("compilation", () => {
  test("a policy save whose expression does not compile is rejected with APIM's ValidationError", async () => {
    const bad = await restError(
      c.apim.apiOperationPolicy.createOrUpdate(RG, SVC, "gw", "echo", "policy", { value: '<policies><inbound><base />\n  <set-variable name="x" value="@(context.Request.Headers.GetValueOrDefalt("a", ""))" /></inbound></policies>', format: "rawxml" }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.body.error.code).toBe("ValidationError");
    expect(bad.body.error.details[0].message).toMatch(/^Error in element 'set-variable' on line 2, column \d+: .*GetValueOrDefalt/);
    const frag = await restError(c.apim.policyFragment.beginCreateOrUpdateAndWait(RG, SVC, "bad-frag", { value: '<fragment><set-body>@{ var x = 1; }</set-body></fragment>', format: "rawxml" }, FAST));
    expect(frag.statusCode).toBe(400);
    expect(frag.body.error.details[0].message).toMatch(/^Error in element 'set-body' on line 1/);
    // A C# type error (a string where an int is declared) in a fragment: refused the same way.
    const typed = await restError(
      c.apim.policyFragment.beginCreateOrUpdateAndWait(RG, SVC, "typed-frag", { value: '<fragment><set-variable name="n" value="@{ int n = &quot;seven&quot;; return n; }" /></fragment>', format: "xml" }, FAST),
    );
    expect(typed.statusCode).toBe(400);
    expect(typed.body.error.code).toBe("ValidationError");
    expect(typed.body.error.details[0].message).toMatch(/^Error in element 'set-variable' on line 1, column \d+: .*CS0029/);
    expect((await gw("/gw/echo/1", { headers: bearer(goodToken) })).status).toBe(200); // the stored policy is unchanged
  });

  test("the effective policy compiles once per version", async () => {
    const policy = (v: string) => opPolicy(`<set-header name="X-V" exists-action="override"><value>@("${v}")</value></set-header>`);
    await putOperation("count", "GET", "/count", policy("1"));
    const before = (await admin(sb, "GET", "/gateway")).compiles as number;
    await Promise.all([1, 2, 3].map(() => gw("/gw/count", { headers: bearer(goodToken) })));
    expect((await admin(sb, "GET", "/gateway")).compiles).toBe(before + 1);
    await c.apim.apiOperationPolicy.createOrUpdate(RG, SVC, "gw", "count", "policy", { value: policy("2"), format: "rawxml" });
    for (let i = 0; i < 2; i++) {
      const body = (await (await gw("/gw/count", { headers: bearer(goodToken) })).json()) as { headers: Record<string, string> };
      expect(body.headers["X-V"]).toBe("2");
    }
    expect((await admin(sb, "GET", "/gateway")).compiles).toBe(before + 2);
  });
});

describe("without Mono", () => {
  test("saves succeed, gateway requests answer 500 naming the packages", async () => {
    const other = await startTestSandbox({ stateDir: tempDir(), apimActivationMs: 50, expressions: { mono: "/nonexistent/mono" } });
    try {
      const oc = clients(other.sb);
      await oc.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
      await oc.apim.apiManagementService.beginCreateOrUpdateAndWait(RG, "apim-nomono", { location: "West Europe", sku: { name: "Developer", capacity: 1 }, publisherEmail: "a@b.c", publisherName: "x" }, FAST);
      await oc.apim.api.beginCreateOrUpdateAndWait(RG, "apim-nomono", "a", { displayName: "A", path: "a", serviceUrl: "https://b.example.com", subscriptionRequired: false }, FAST);
      await oc.apim.apiOperation.createOrUpdate(RG, "apim-nomono", "a", "x", { displayName: "x", method: "GET", urlTemplate: "/x" });
      await oc.apim.apiOperationPolicy.createOrUpdate(RG, "apim-nomono", "a", "x", "policy", { value: '<policies><inbound><set-variable name="v" value="@(DoesNotCompile()" /></inbound></policies>', format: "xml" });
      const res = await fetch(`${other.sb.gateway}/apim-nomono/a/x`);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { message: string }).message).toContain("mono-mcs mono-runtime libnewtonsoft-json5.0-cil");
    } finally {
      await other.sb.close();
    }
  });
});
