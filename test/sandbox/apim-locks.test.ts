// APIM's API-level lock as the sandbox models it (sandbox/arm/apiLocks.ts): overlapping writes
// under one API get APIM's 409; writes that take no common lock are served side by side.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Sandbox, SandboxOptions } from "../../sandbox/index.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { FAST, admin, armFetch, clients, startTestSandbox, until } from "../support/sandbox.js";

const RG = "rg-locks";
const SVC = "apim-locks";
const APIM_409 = { error: { code: "PessimisticConcurrencyConflict", message: "Operation on the API is in progress", details: null } };

/** A sandbox with an APIM instance ready, for one describe block. */
function tenantWith(opts: Partial<SandboxOptions>) {
  const t = { sb: undefined as unknown as Sandbox, traffic: "" };
  beforeAll(async () => {
    const started = await startTestSandbox({ apimActivationMs: 100, apiLocks: true, ...opts });
    t.sb = started.sb;
    t.traffic = started.traffic;
    const c = clients(t.sb);
    await c.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
    await c.apim.apiManagementService.beginCreateOrUpdateAndWait(RG, SVC, { location: "West Europe", sku: { name: "Developer", capacity: 1 }, publisherEmail: "ops@contoso.com", publisherName: "Contoso" }, FAST);
  });
  afterAll(async () => {
    await t.sb?.close();
    if (t.traffic) await assertTrafficConformsToSpecs(t.traffic);
  });
  return t;
}

const svc = (sb: Sandbox) => `/subscriptions/${sb.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/${SVC}`;
const V = "?api-version=2024-05-01";
const apiBody = (path: string) => ({ properties: { displayName: path, path, serviceUrl: "https://backend.example", protocols: ["https"] } });
const opBody = (id: string) => ({ properties: { displayName: id, method: "POST", urlTemplate: `/${id}` } });
const nvBody = (id: string) => ({ properties: { displayName: id, value: "v", secret: false } });

async function apiReady(sb: Sandbox, api: string): Promise<void> {
  const put = await armFetch(sb, "PUT", `${svc(sb)}/apis/${api}${V}`, apiBody(api));
  expect(put.status).toBe(201);
  const status = put.headers.get("azure-asyncoperation")!;
  await until(async () => (await armFetch(sb, "GET", new URL(status).pathname + new URL(status).search)).json?.status === "Succeeded");
}

describe("overlapping writes, each answered after 3 s", () => {
  // The delay only makes the two requests overlap in the sandbox; nothing here measures time.
  const t = tenantWith({ latency: { readMs: 0, writeMs: 0, writes: { apimApiOperation: { ms: 3000 }, apimNamedValue: { ms: 3000 } } } });

  test("two writes under one API: one is served, the other gets APIM's 409 and body", async () => {
    await apiReady(t.sb, "one");
    await admin(t.sb, "POST", "/requests/reset");
    const [a, b] = await Promise.all(["op-a", "op-b"].map((id) => armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/one/operations/${id}${V}`, opBody(id))));
    expect([a!.status, b!.status].sort()).toEqual([201, 409]);
    expect([a, b].find((r) => r!.status === 409)!.json).toEqual(APIM_409);
    expect((await admin(t.sb, "GET", "/requests")).apiConflicts).toBe(1);
  });

  test("two named values of different names: both served, side by side", async () => {
    await admin(t.sb, "POST", "/requests/reset");
    const answers = await Promise.all(["nv-a", "nv-b"].map((id) => armFetch(t.sb, "PUT", `${svc(t.sb)}/namedValues/${id}${V}`, nvBody(id))));
    expect(answers.map((r) => r.status)).toEqual([201, 201]);
    const counts = await admin(t.sb, "GET", "/requests");
    expect(counts.maxConcurrentApimWrites).toBe(2);
    expect(counts.apiConflicts).toBe(0);
  });

  test("writes under two different APIs do not conflict", async () => {
    await apiReady(t.sb, "two");
    const answers = await Promise.all(["one", "two"].map((api) => armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/${api}/operations/op-c${V}`, opBody("op-c"))));
    expect(answers.map((r) => r.status)).toEqual([201, 201]);
  });
});

describe("the API's long-running operation holds the lock", () => {
  const t = tenantWith({ latency: { readMs: 0, writeMs: 0, writes: { apimApi: { lroMs: 600_000 } } }, lroPolls: 0 });

  test("while an API PUT's operation runs, a write under that API gets 409; reads and other entities are served", async () => {
    const put = await armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/slow${V}`, apiBody("slow"));
    expect(put.status).toBe(201);
    const status = new URL(put.headers.get("azure-asyncoperation")!);
    expect((await armFetch(t.sb, "GET", status.pathname + status.search)).json.status).toBe("InProgress");
    const op = await armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/slow/operations/x${V}`, opBody("x"));
    expect(op.status).toBe(409);
    expect(op.json).toEqual(APIM_409);
    expect((await armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/slow/policies/policy${V}`, { properties: { value: "<policies><inbound /><backend /><outbound /><on-error /></policies>", format: "rawxml" } })).status).toBe(409);
    expect((await armFetch(t.sb, "GET", `${svc(t.sb)}/apis/slow${V}`)).status).toBe(200);
    expect((await armFetch(t.sb, "PUT", `${svc(t.sb)}/namedValues/beside${V}`, nvBody("beside"))).status).toBe(201);
  });
});

describe("the lock outlasts a write by the settle time", () => {
  const t = tenantWith({ apiLockSettleMs: 600_000 });

  test("a write under an API just after another one ended still gets 409", async () => {
    expect((await armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/settling/operations/first${V}`, opBody("first"))).status).toBe(404);
    const put = await armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/settling${V}`, apiBody("settling"));
    expect(put.status).toBe(201);
    const next = await armFetch(t.sb, "PUT", `${svc(t.sb)}/apis/settling/operations/first${V}`, opBody("first"));
    expect(next.status).toBe(409);
    expect(next.json).toEqual(APIM_409);
  });
});
