// The directory parts `aeg init` and `aeg teardown` use: Graph group search, and Dataverse
// security roles that carry a description and can be deleted.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Sandbox } from "../../sandbox/index.js";
import { startTestSandbox } from "../support/sandbox.js";

const DV = "/api/data/v9.2";
const KB_GROUP = "11111111-2222-3333-4444-555555555555";
let sb: Sandbox;

beforeAll(async () => {
  ({ sb } = await startTestSandbox());
});
afterAll(async () => {
  await sb?.close();
});

async function token(scope: string, who: "operator" | "reader" = "operator"): Promise<string> {
  const [id, secret] = who === "operator" ? [sb.clientId, sb.clientSecret] : [sb.readerClientId, sb.readerClientSecret];
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret, scope }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function call(base: string, scope: string, method: string, p: string, opts: { body?: unknown; headers?: Record<string, string>; who?: "operator" | "reader" } = {}) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${await token(scope, opts.who)}`, ...(opts.body ? { "content-type": "application/json" } : {}), ...opts.headers },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

const graph = (p: string, opts: { headers?: Record<string, string>; who?: "operator" | "reader" } = {}) => call(sb.graph, "https://graph.microsoft.com/.default", "GET", `/v1.0${p}`, opts);
const dv = (method: string, p: string, body?: unknown, who: "operator" | "reader" = "operator") => call(sb.dataverse, `${sb.dataverse}/.default`, method, `${DV}${p}`, { body, who });
const EVENTUAL = { ConsistencyLevel: "eventual" };

describe("Graph groups", () => {
  test("$search matches the start of a word in displayName, needs ConsistencyLevel: eventual", async () => {
    const found = await graph(`/groups?$search=${encodeURIComponent('"displayName:kb"')}&$select=id,displayName&$count=true`, { headers: EVENTUAL });
    expect(found.status).toBe(200);
    expect(found.json).toMatchObject({ "@odata.count": 1, value: [{ id: KB_GROUP, displayName: "KB Assistant Users" }] });
    expect(Object.keys(found.json.value[0]).sort()).toEqual(["displayName", "id"]);
    const either = await graph(`/groups?$search=${encodeURIComponent('"displayName:users" OR "description:everyone"')}`, { headers: EVENTUAL });
    expect(either.json.value.map((g: { displayName: string }) => g.displayName).sort()).toEqual(["All Staff", "HR Helper Users", "KB Assistant Users"]);
    const infix = await graph(`/groups?$search=${encodeURIComponent('"displayName:ssist"')}`, { headers: EVENTUAL });
    expect(infix.json.value).toEqual([]);

    const noHeader = await graph(`/groups?$search=${encodeURIComponent('"displayName:kb"')}`);
    expect(noHeader.status).toBe(400);
    expect(noHeader.json.error).toMatchObject({ code: "Request_UnsupportedQuery", message: expect.stringContaining("ConsistencyLevel: eventual") });
    const bad = await graph(`/groups?$search=kb`, { headers: EVENTUAL });
    expect(bad.status).toBe(400);
  });

  test("list with $top, read one, unknown id 404; a caller without a directory permission gets 403", async () => {
    expect((await graph("/groups?$top=2")).json.value).toHaveLength(2);
    expect((await graph(`/groups/${KB_GROUP}`)).json).toMatchObject({ id: KB_GROUP, displayName: "KB Assistant Users", securityEnabled: true });
    const missing = await graph("/groups/00000000-0000-0000-0000-000000000001");
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("Request_ResourceNotFound");
    const reader = await graph("/groups", { who: "reader" });
    expect(reader.status).toBe(403);
    expect(reader.json.error.code).toBe("Authorization_RequestDenied");
  });
});

describe("Dataverse security roles", () => {
  test("a custom role keeps its description; deleting it removes it and every assignment of it", async () => {
    const root = (await dv("GET", "/businessunits?$select=businessunitid&$filter=_parentbusinessunitid_value eq null")).json.value[0].businessunitid;
    const created = await dv("POST", "/roles", { name: "Scratch Role", description: "made by this test (managed by aeg)", "businessunitid@odata.bind": `/businessunits(${root})` });
    expect(created.status).toBe(204);
    const roleId = /\(([0-9a-f-]{36})\)$/.exec(created.headers.get("odata-entityid")!)![1]!;
    expect((await dv("GET", `/roles(${roleId})?$select=name,description`)).json).toMatchObject({ name: "Scratch Role", description: "made by this test (managed by aeg)" });
    const me = (await dv("GET", "/WhoAmI")).json.UserId as string;
    expect((await dv("POST", `/systemusers(${me})/systemuserroles_association/$ref`, { "@odata.id": `${sb.dataverse}${DV}/roles(${roleId})` })).status).toBe(204);
    // The same link, read from the role's side.
    const holders = (await dv("GET", `/roles(${roleId})/systemuserroles_association?$select=systemuserid`)).json.value;
    expect(holders.map((u: { systemuserid: string }) => u.systemuserid)).toEqual([me]);

    expect((await dv("DELETE", `/roles(${roleId})`, undefined, "reader")).status).toBe(403);
    expect((await dv("DELETE", `/roles(${roleId})`)).status).toBe(204);
    expect((await dv("GET", `/roles(${roleId})`)).status).toBe(404);
    const mine = (await dv("GET", `/systemusers(${me})/systemuserroles_association?$select=roleid`)).json.value.map((r: { roleid: string }) => r.roleid);
    expect(mine).not.toContain(roleId);
    const again = await dv("DELETE", `/roles(${roleId})`);
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe("0x80040217");
  });

  test("a system role cannot be deleted", async () => {
    const admin = (await dv("GET", "/roles?$select=roleid&$filter=name eq 'System Administrator'")).json.value[0].roleid;
    const refused = await dv("DELETE", `/roles(${admin})`);
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toMatch(/system role/);
  });
});
