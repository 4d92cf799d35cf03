// The governance stand-ins over HTTPS: Dataverse reads exactly as a policy sends them, Graph
// checkMemberGroups, persona tokens checked with jose against the sandbox JWKS, fault modes, and
// finding a running sandbox from its state directory.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { personaToken, runningServer, startSandbox, type Sandbox } from "../../sandbox/index.js";
import { startTestSandbox, tempDir, trustCa } from "../support/sandbox.js";

const ORG = "https://org-aeg-sandbox.crm.dynamics.com";
const GATEWAY_AUD = "api://agent-eligibility-gateway";
const GATEWAY_CLIENT_ID = "5d9a4f6e-0c1b-4d7a-9b38-2f1e6c7a8b90";
const KB_GROUP = "11111111-2222-3333-4444-555555555555";
const HR_GROUP = "66666666-7777-8888-9999-000000000000";
const COMPLIANCE = "/api/data/v9.2/fsi_caicompliancestates";
const ENTITLEMENTS = "/api/data/v9.2/fsi_cbgentitlementmaterializeds";

let sb: Sandbox;
let dir: string;
let dvToken: string;
let graphToken: string;

async function appToken(scope: string): Promise<string> {
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  ({ sb, dir } = await startTestSandbox());
  dvToken = await appToken(`${ORG}/.default`);
  graphToken = await appToken("https://graph.microsoft.com/.default");
});
afterAll(async () => {
  await sb?.close();
});

async function call(base: string, method: string, p: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(opts.body !== undefined ? { "content-type": "application/json" } : {}), ...(opts.headers ?? {}) },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as any) : undefined };
}
const dv = (query: string, token: string | null = dvToken, headers?: Record<string, string>) => call(sb.dataverse, "GET", query, { token: token ?? undefined, headers });
const graph = (p: string, body: unknown, token: string | null = graphToken) => call(sb.graph, "POST", p, { token: token ?? undefined, body });

/** The OData string literal a policy must build: quotes doubled, then the whole query URL-encoded. */
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** Encodes like .NET's Uri.EscapeDataString (what a policy expression uses): every reserved character, quotes too. */
const escapeData = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const q = (params: Record<string, string>) => "?" + Object.entries(params).map(([k, v]) => `${k}=${escapeData(v)}`).join("&");

describe("Dataverse stand-in", () => {
  test("the compliance read a policy sends", async () => {
    const r = await dv(COMPLIANCE + q({ $select: "fsi_risklevel", $filter: `fsi_agentid eq ${lit("contoso-kb-assistant")}`, $top: "1" }));
    expect(r.status).toBe(200);
    expect(r.headers.get("odata-version")).toBe("4.0");
    expect(r.json["@odata.context"]).toBe(`${sb.dataverse}/api/data/v9.2/$metadata#fsi_caicompliancestates(fsi_risklevel)`);
    expect(r.json.value).toHaveLength(1);
    expect(Object.keys(r.json.value[0]).sort()).toEqual(["@odata.etag", "fsi_caicompliancestateid", "fsi_risklevel"]);
    expect(r.json.value[0].fsi_risklevel).toBe(100000000);
    expect(r.json.value[0]["@odata.etag"]).toMatch(/^W\/"\d+"$/);

    const hr = await dv(COMPLIANCE + q({ $select: "fsi_risklevel", $filter: "fsi_agentid eq 'contoso-hr-helper'", $top: "1" }));
    expect(hr.json.value[0].fsi_risklevel).toBe(100000002);
    const unscored = await dv(COMPLIANCE + q({ $filter: "fsi_agentid eq 'contoso-unscored-agent'" }));
    expect(unscored.json.value[0]).toMatchObject({ fsi_agentid: "contoso-unscored-agent", fsi_risklevel: null });
    const none = await dv(COMPLIANCE + q({ $filter: "fsi_agentid eq 'no-such-agent'" }));
    expect(none.json.value).toEqual([]);
  });

  test("the entitlement read, with a UPN whose quote is doubled and URL-encoded", async () => {
    const query = q({ $select: "fsi_decision,fsi_pathway,fsi_decisionreason,fsi_ttlexpiresat", $filter: `fsi_agentid eq ${lit("contoso-kb-assistant")} and fsi_userupn eq ${lit("liam.o'brien@contoso.example")}`, $top: "1" });
    expect(query).toContain("%27%27brien"); // the doubled quote survives encoding
    const r = await dv(ENTITLEMENTS + query);
    expect(r.status).toBe(200);
    expect(r.json["@odata.context"]).toMatch(/\$metadata#fsi_cbgentitlementmaterializeds\(fsi_decision,fsi_pathway,fsi_decisionreason,fsi_ttlexpiresat\)$/);
    // encodeURIComponent leaves the quotes bare; the server decodes both forms alike.
    const bare = await dv(ENTITLEMENTS + query.replace(/%27/g, "'"));
    expect(bare.json.value).toEqual(r.json.value);
    expect(r.json.value).toEqual([
      { "@odata.etag": expect.any(String), fsi_decision: 100000001, fsi_pathway: 100000004, fsi_decisionreason: 100000000, fsi_ttlexpiresat: "2099-12-31T23:59:59Z", fsi_cbgentitlementmaterializedid: expect.any(String) },
    ]);
    // Dataverse compares strings case-insensitively.
    const upper = await dv(ENTITLEMENTS + q({ $filter: "fsi_agentid eq 'contoso-kb-assistant' and fsi_userupn eq 'EMMA@CONTOSO.EXAMPLE'" }));
    expect(upper.json.value).toHaveLength(1);
    // All columns without $select; the expired row is served as it is (expiry is the gateway's call).
    const kofi = await dv(ENTITLEMENTS + q({ $filter: "fsi_userupn eq 'kofi@contoso.example'" }));
    expect(kofi.json["@odata.context"]).toMatch(/#fsi_cbgentitlementmaterializeds$/);
    expect(kofi.json.value[0]).toMatchObject({ fsi_agentid: "contoso-kb-assistant", fsi_pathway: 100000004, fsi_ttlexpiresat: "2024-01-01T00:00:00Z" });
    const mia = await dv(ENTITLEMENTS + q({ $filter: "fsi_agentid eq 'contoso-kb-assistant' and fsi_userupn eq 'mia@contoso.example'" }));
    expect(mia.json.value).toEqual([]);
    const all = await dv(ENTITLEMENTS + q({ $filter: "fsi_agentid eq 'contoso-kb-assistant'", $top: "3" }));
    expect(all.json.value).toHaveLength(3);
  });

  test("FormattedValue annotations only when Prefer asks", async () => {
    const query = ENTITLEMENTS + q({ $select: "fsi_pathway,fsi_decision", $filter: "fsi_userupn eq 'gus@contoso.example'" });
    const plain = await dv(query);
    expect(JSON.stringify(plain.json)).not.toContain("FormattedValue");
    const r = await dv(query, dvToken, { Prefer: 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"' });
    expect(r.headers.get("preference-applied")).toBe('odata.include-annotations="OData.Community.Display.V1.FormattedValue"');
    expect(r.json.value[0]).toMatchObject({
      fsi_pathway: 100000004,
      "fsi_pathway@OData.Community.Display.V1.FormattedValue": "metered",
      fsi_decision: 100000003,
      "fsi_decision@OData.Community.Display.V1.FormattedValue": "Fail-open - Anomaly",
    });
    const star = await dv(query, dvToken, { Prefer: 'odata.include-annotations="*"' });
    expect(star.json.value[0]["fsi_pathway@OData.Community.Display.V1.FormattedValue"]).toBe("metered");
  });

  test("malformed queries are 400 with Dataverse's error body; unknown sets 404", async () => {
    const raw = await dv(`${ENTITLEMENTS}?$filter=${encodeURIComponent("fsi_userupn eq 'liam.o'brien@contoso.example'")}`);
    expect(raw.status).toBe(400);
    expect(raw.json.error.code).toBe("0x80060888");
    expect(raw.json.error.message).toMatch(/position/);
    expect((await dv(`${COMPLIANCE}?$filter=${encodeURIComponent("fsi_risklevel eq 'Low'")}`)).json.error.code).toBe("0x80060888");
    expect((await dv(`${COMPLIANCE}?$filter=${encodeURIComponent("fsi_agent eq 'x'")}`)).json.error).toEqual({ code: "0x0", message: "Could not find a property named 'fsi_agent' on type 'Microsoft.Dynamics.CRM.fsi_caicompliancestate'." });
    expect((await dv(`${COMPLIANCE}?$select=fsi_name`)).status).toBe(400);
    expect((await dv(`${COMPLIANCE}?$top=-1`)).json.error.code).toBe("0x80060888");
    expect((await dv(`${COMPLIANCE}?$skip=1`)).status).toBe(400);
    const set = await dv("/api/data/v9.2/FSI_CAICOMPLIANCESTATES");
    expect(set.status).toBe(404);
    expect(set.json.error.code).toBe("0x8006088a");
  });

  test("no token, wrong audience, foreign token → 401; the listener's own URL and org URLs are audiences", async () => {
    const none = await dv(COMPLIANCE, null);
    expect(none.status).toBe(401);
    expect(none.json).toMatchObject({ error: { code: "" } });
    expect(none.headers.get("www-authenticate")).toBe(`Bearer authorization_uri=${sb.authority}/${sb.tenantId}/oauth2/authorize, resource_id=${sb.dataverse}/`);
    expect((await dv(COMPLIANCE, graphToken)).status).toBe(401);
    const persona = await personaToken(dir, { persona: "alice", audience: GATEWAY_AUD, version: "v1" });
    expect((await dv(COMPLIANCE, persona)).status).toBe(401);
    const forged = dvToken.slice(0, -4) + (dvToken.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect((await dv(COMPLIANCE, forged)).status).toBe(401);
    expect((await dv(COMPLIANCE, await appToken(`${sb.dataverse}/.default`))).status).toBe(200);
    expect((await dv(COMPLIANCE, await appToken("https://contoso-prod.crm4.dynamics.com/.default"))).status).toBe(200);
  });
});

describe("Graph stand-in", () => {
  const personas = async () => (await call(sb.authority, "GET", "/_sandbox/personas")).json as { personas: { name: string; oid: string; upn: string }[] };

  test("checkMemberGroups: member, not a member, by UPN, directoryObjects, the overage persona", async () => {
    const { personas: ps } = await personas();
    const alice = ps.find((p) => p.name === "alice")!;
    const noah = ps.find((p) => p.name === "noah")!;
    const olga = ps.find((p) => p.name === "olga")!;
    const r = await graph(`/v1.0/users/${alice.oid}/checkMemberGroups`, { groupIds: [KB_GROUP, HR_GROUP.toUpperCase(), "00000000-0000-0000-0000-000000000001"] });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)", value: [KB_GROUP, HR_GROUP.toUpperCase()] });
    expect((await graph(`/v1.0/users/${noah.oid}/checkMemberGroups`, { groupIds: [KB_GROUP] })).json.value).toEqual([]);
    expect((await graph(`/v1.0/users/${encodeURIComponent("liam.o'brien@contoso.example")}/checkMemberGroups`, { groupIds: [KB_GROUP] })).json.value).toEqual([KB_GROUP]);
    expect((await graph(`/v1.0/directoryObjects/${olga.oid}/checkMemberGroups`, { groupIds: [KB_GROUP, HR_GROUP] })).json.value).toEqual([KB_GROUP]);
    // An app is a directory object in no groups.
    const app = decodeJwt(graphToken).oid as string;
    expect((await graph(`/v1.0/directoryObjects/${app}/checkMemberGroups`, { groupIds: [KB_GROUP] })).json.value).toEqual([]);
  });

  test("errors in Graph's shape: unknown user 404, bad bodies 400, tokens 401", async () => {
    const missing = await graph("/v1.0/users/00000000-0000-0000-0000-00000000dead/checkMemberGroups", { groupIds: [KB_GROUP] });
    expect(missing.status).toBe(404);
    expect(missing.json.error).toMatchObject({ code: "Request_ResourceNotFound", innerError: { "request-id": expect.any(String), date: expect.any(String) } });
    const { personas: ps } = await personas();
    const u = `/v1.0/users/${ps[0]!.oid}/checkMemberGroups`;
    expect((await graph(u, { groupIds: Array.from({ length: 21 }, () => KB_GROUP) })).json.error.code).toBe("Request_BadRequest");
    expect((await graph(u, {})).status).toBe(400);
    expect((await graph(u, { groupIds: ["not-a-guid"] })).status).toBe(400);
    const none = await graph(u, { groupIds: [KB_GROUP] }, null);
    expect(none.status).toBe(401);
    expect(none.json.error).toMatchObject({ code: "InvalidAuthenticationToken", message: "Access token is empty." });
    expect((await graph(u, { groupIds: [KB_GROUP] }, dvToken)).json.error.message).toMatch(/Invalid audience/);
    expect((await graph(u, { groupIds: [KB_GROUP] }, await appToken("00000003-0000-0000-c000-000000000000/.default"))).status).toBe(200);
  });
});

describe("persona tokens", () => {
  const jwks = () => createRemoteJWKSet(new URL(`${sb.authority}/${sb.tenantId}/discovery/v2.0/keys`));
  const mint = async (name: string, audience: string, version: string) => call(sb.authority, "POST", `/_sandbox/personas/${name}/token`, { body: { audience, version } });

  test("GET /_sandbox/personas lists personas with expectations, and agents", async () => {
    const r = await call(sb.authority, "GET", "/_sandbox/personas");
    expect(r.status).toBe(200);
    const olga = r.json.personas.find((p: any) => p.name === "olga");
    expect(olga).toMatchObject({ overage: true, groupCount: 240, expected: { status: 403, denyReason: "OutOfPolicyAudience", anomaly: false }, graphFallback: false });
    expect(olga.groups).toBeUndefined();
    expect(r.json.personas.find((p: any) => p.name === "liam")).toMatchObject({ upn: "liam.o'brien@contoso.example", expected: { status: 403, denyReason: "NotInEligibleCohort" } });
    expect(r.json.agents.find((a: any) => a.id === "contoso-hr-helper")).toMatchObject({ audienceGroupId: HR_GROUP, riskLevel: 100000002 });
  });

  test("v1: sts.windows.net issuer, upn, unique_name, amr, appid, groups, x5t", async () => {
    const r = await mint("liam", GATEWAY_AUD, "v1");
    expect(r.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(r.json.access_token, jwks(), { issuer: `https://sts.windows.net/${sb.tenantId}/`, audience: GATEWAY_AUD });
    expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "JWT", x5t: protectedHeader.kid });
    expect(payload).toMatchObject({ ver: "1.0", tid: sb.tenantId, upn: "liam.o'brien@contoso.example", unique_name: "liam.o'brien@contoso.example", amr: expect.arrayContaining(["pwd"]), appid: expect.any(String) });
    expect(payload["groups"]).toContain(KB_GROUP);
    expect(payload["preferred_username"]).toBeUndefined();
    expect(payload["azp"]).toBeUndefined();
  });

  test("v2: authority issuer, preferred_username, azp; upn only with the optional claim", async () => {
    const alice = await mint("alice", GATEWAY_CLIENT_ID, "v2");
    const { payload, protectedHeader } = await jwtVerify(alice.json.access_token, jwks(), { issuer: `${sb.authority}/${sb.tenantId}/v2.0`, audience: GATEWAY_CLIENT_ID });
    expect(protectedHeader.x5t).toBeUndefined();
    expect(payload).toMatchObject({ ver: "2.0", preferred_username: "alice@contoso.example", upn: "alice@contoso.example", azp: expect.any(String) });
    expect(payload["appid"]).toBeUndefined();
    expect(payload["unique_name"]).toBeUndefined();
    const pat = await jwtVerify((await mint("pat", GATEWAY_CLIENT_ID, "v2")).json.access_token, jwks(), { audience: GATEWAY_CLIENT_ID });
    expect(pat.payload["upn"]).toBeUndefined();
    expect(pat.payload["preferred_username"]).toBe("pat@contoso.example");
    // v1 tokens always carry upn, even for pat.
    expect(decodeJwt((await mint("pat", GATEWAY_AUD, "v1")).json.access_token)["upn"]).toBe("pat@contoso.example");
  });

  test("overage: no groups claim, _claim_names/_claim_sources instead", async () => {
    const { payload } = await jwtVerify((await mint("olga", GATEWAY_AUD, "v1")).json.access_token, jwks(), { audience: GATEWAY_AUD });
    expect(payload["groups"]).toBeUndefined();
    expect(payload["_claim_names"]).toEqual({ groups: "src1" });
    expect(payload["_claim_sources"]).toEqual({ src1: { endpoint: `https://graph.windows.net/${sb.tenantId}/users/${payload["oid"]}/getMemberObjects` } });
  });

  test("admin route errors: unknown persona 404, bad version or audience 400", async () => {
    expect((await mint("zed", GATEWAY_AUD, "v1")).status).toBe(404);
    expect((await mint("alice", GATEWAY_AUD, "v3")).status).toBe(400);
    expect((await mint("alice", "", "v1")).status).toBe(400);
  });
});

describe("fault modes", () => {
  const setFault = (base: string, body: unknown) => call(base, "POST", "/_sandbox/faults", { body });
  const compliance = () => dv(COMPLIANCE + q({ $filter: "fsi_agentid eq 'contoso-kb-assistant'" }));
  const check = async () => {
    const { personas: ps } = (await call(sb.authority, "GET", "/_sandbox/personas")).json;
    return graph(`/v1.0/users/${ps[0].oid}/checkMemberGroups`, { groupIds: [KB_GROUP] });
  };

  test.each([
    ["dataverse", () => sb.dataverse, compliance, "GET", COMPLIANCE],
    ["graph", () => sb.graph, check, "POST", "/v1.0/users/x/checkMemberGroups"],
  ] as const)("%s: down, slow, error, throttle, ok", async (_name, base, read, method, dataPath) => {
    try {
      expect((await setFault(base(), { mode: "down" })).status).toBe(200);
      await expect(read()).rejects.toThrow();
      // The admin route itself stays up.
      expect((await call(base(), "GET", "/_sandbox/faults")).json).toEqual({ mode: "down" });

      await setFault(base(), { mode: "slow", delayMs: 150 });
      const started = Date.now();
      expect((await read()).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(145);
      await setFault(base(), { mode: "slow", delayMs: 2000 });
      // A client timeout shorter than the delay gives up first (the gateway's send-request timeout).
      await expect(fetch(`${base()}${dataPath}`, { method, signal: AbortSignal.timeout(100) })).rejects.toThrow();

      await setFault(base(), { mode: "error" });
      const e503 = await read();
      expect(e503.status).toBe(503);
      expect(e503.json.error.code).toEqual(expect.any(String));
      await setFault(base(), { mode: "error", status: 500 });
      expect((await read()).status).toBe(500);

      await setFault(base(), { mode: "throttle", retryAfterSeconds: 7 });
      const t = await read();
      expect(t.status).toBe(429);
      expect(t.headers.get("retry-after")).toBe("7");
      expect(t.json.error.code).toBe(_name === "dataverse" ? "0x80072322" : "TooManyRequests");

      expect((await setFault(base(), { mode: "bogus" })).status).toBe(400);
      expect((await setFault(base(), { mode: "slow" })).status).toBe(400);
    } finally {
      await setFault(base(), { mode: "ok" });
    }
    expect((await read()).status).toBe(200);
  });
});

describe("discovery and personaToken", () => {
  test("server.json while running (no secrets); personaToken through the running sandbox", async () => {
    const info = runningServer(dir)!;
    expect(info).toMatchObject({ pid: process.pid, authority: sb.authority, dataverse: sb.dataverse, graph: sb.graph, caFile: sb.caFile, tenantId: sb.tenantId });
    const text = fs.readFileSync(path.join(dir, "server.json"), "utf8");
    expect(text).not.toContain(sb.clientSecret);
    const t = await personaToken(dir, { persona: "olga", audience: GATEWAY_AUD, version: "v2" });
    // v2 issuer names this sandbox's authority: it was minted by the running one.
    expect(decodeJwt(t).iss).toBe(`${sb.authority}/${sb.tenantId}/v2.0`);
  });

  test("personaToken on disk starts a sandbox, mints, and closes it (server.json and lock removed)", async () => {
    const d = tempDir();
    const t = await personaToken(d, { persona: "alice", audience: GATEWAY_AUD, version: "v1" });
    expect(fs.existsSync(path.join(d, "server.json"))).toBe(false);
    expect(fs.existsSync(path.join(d, "sandbox.lock"))).toBe(false);
    expect(runningServer(d)).toBeUndefined();
    // The signing key is persisted: a later sandbox on the same state verifies the v1 token.
    const later = await startSandbox({ stateDir: d });
    try {
      trustCa(later.caFile);
      expect(runningServer(d)?.authority).toBe(later.authority);
      const { payload } = await jwtVerify(t, createRemoteJWKSet(new URL(`${later.authority}/${later.tenantId}/discovery/keys`)), { issuer: `https://sts.windows.net/${later.tenantId}/`, audience: GATEWAY_AUD });
      expect(payload["upn"]).toBe("alice@contoso.example");
    } finally {
      await later.close();
    }
    expect(fs.existsSync(path.join(d, "server.json"))).toBe(false);
  });

  test("a stale server.json (its process gone) is not taken for a running sandbox", () => {
    const d = tempDir();
    fs.writeFileSync(path.join(d, "server.json"), JSON.stringify({ pid: 2 ** 22 + 17, authority: "https://127.0.0.1:1", caFile: "x" }));
    fs.writeFileSync(path.join(d, "sandbox.lock"), String(2 ** 22 + 17));
    expect(runningServer(d)).toBeUndefined();
  });
});
