// APIM's per-instance limits as the sandbox enforces them (sandbox/arm/apimLimits.ts): the same
// 400 `ValidationError` APIM answers, and only for what would cross a limit.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Sandbox } from "../../sandbox/index.js";
import { STATE_FILE } from "../../sandbox/store.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { FAST, armFetch, clients, startTestSandbox } from "../support/sandbox.js";

const RG = "rg-limits";
const V = "?api-version=2024-05-01";
const svcPath = (sb: Sandbox, name: string) => `/subscriptions/${sb.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.ApiManagement/service/${name}`;
const opBody = (id: string) => ({ properties: { displayName: id, method: "POST", urlTemplate: `/${id}` } });
const nvBody = (id: string) => ({ properties: { displayName: id, value: "v", secret: false } });
const policy = (bytes: number) => `<policies><inbound><base />${"<!-- x -->".padEnd(bytes, " ")}</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`;

describe("APIM's per-instance limits", () => {
  let sb: Sandbox;
  let dir: string;
  const traffic: string[] = [];

  beforeAll(async () => {
    // Two instances: a Developer one and a Consumption one. Then, with the sandbox stopped, the
    // Developer one gets 4,999 named values and an API of 99 operations written into the state
    // directly: thousands of PUTs would only make the test slow.
    const first = await startTestSandbox({ apimActivationMs: 50 });
    dir = first.dir;
    traffic.push(first.traffic);
    const c = clients(first.sb);
    await c.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
    const publisher = { publisherEmail: "ops@contoso.com", publisherName: "Contoso" };
    await c.apim.apiManagementService.beginCreateOrUpdateAndWait(RG, "apim-dev", { location: "West Europe", sku: { name: "Developer", capacity: 1 }, ...publisher }, FAST);
    await c.apim.apiManagementService.beginCreateOrUpdateAndWait(RG, "apim-cons", { location: "West Europe", sku: { name: "Consumption", capacity: 0 }, ...publisher }, FAST);
    for (const svc of ["apim-dev", "apim-cons"]) {
      await c.apim.api.beginCreateOrUpdateAndWait(RG, svc, "full", { displayName: "full", path: "full", protocols: ["https"] }, FAST);
    }
    await first.sb.close();

    const file = path.join(dir, STATE_FILE);
    const state = JSON.parse(fs.readFileSync(file, "utf8"));
    const dev = Object.values(state.apim as Record<string, { name: string; namedValues: Record<string, unknown>; apis: Record<string, { operations: Record<string, unknown> }> }>).find((s) => s.name === "apim-dev")!;
    for (let i = 0; i < 4_999; i++) dev.namedValues[`nv-${i}`] = { name: `nv-${i}`, etag: '"e"', properties: { displayName: `nv-${i}`, value: "v", secret: false } };
    for (let i = 0; i < 99; i++) dev.apis["full"]!.operations[`op-${i}`] = { name: `op-${i}`, etag: '"e"', properties: { displayName: `op-${i}`, method: "POST", urlTemplate: `/op-${i}` } };
    fs.writeFileSync(file, JSON.stringify(state));

    const second = await startTestSandbox({ stateDir: dir, trafficFile: path.join(dir, "traffic-2.jsonl") });
    sb = second.sb;
    traffic.push(second.traffic);
  });

  afterAll(async () => {
    await sb?.close();
    for (const t of traffic) await assertTrafficConformsToSpecs(t);
  });

  test("the 5,000th named value is made; the 5,001st is refused; updating one still works", async () => {
    const dev = svcPath(sb, "apim-dev");
    expect((await armFetch(sb, "PUT", `${dev}/namedValues/last${V}`, nvBody("last"))).status).toBe(201);
    const refused = await armFetch(sb, "PUT", `${dev}/namedValues/one-too-many${V}`, nvBody("one-too-many"));
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ code: "ValidationError", message: expect.stringMatching(/^You've reached the maximum number of Named values \(5000\) in Service\./) });
    expect((await armFetch(sb, "PUT", `${dev}/namedValues/nv-7${V}`, nvBody("nv-7"))).status).toBe(200);
  });

  test("the 100th operation of an API is made; the 101st gets APIM's answer; room made by a deletion is room again", async () => {
    const dev = svcPath(sb, "apim-dev");
    expect((await armFetch(sb, "PUT", `${dev}/apis/full/operations/op-99${V}`, opBody("op-99"))).status).toBe(201);
    const refused = await armFetch(sb, "PUT", `${dev}/apis/full/operations/op-100${V}`, opBody("op-100"));
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({
      error: {
        code: "ValidationError",
        message: "You've reached the maximum number of Operations (100) in API. Please delete one or more Operation(s) from API to continue, or consider upgrading your plan to increase the limit.",
      },
    });
    await clients(sb).apim.apiOperation.delete(RG, "apim-dev", "full", "op-3", "*");
    expect((await armFetch(sb, "PUT", `${dev}/apis/full/operations/op-100${V}`, opBody("op-100"))).status).toBe(201);
  });

  test("a policy larger than the tier accepts: 16 KB on Consumption, 250 KB elsewhere", async () => {
    const cons = svcPath(sb, "apim-cons");
    const dev = svcPath(sb, "apim-dev");
    const put = (svc: string, value: string) => armFetch(sb, "PUT", `${svc}/apis/full/policies/policy${V}`, { properties: { value, format: "rawxml" } });
    const small = await put(cons, policy(15 * 1024));
    expect(small.status).toBe(201);
    const big = await put(cons, policy(17 * 1024));
    expect(big.status).toBe(400);
    expect(big.json.error).toMatchObject({ code: "ValidationError", message: "Policy size exceeds allowed limit of 16 KB" });
    expect((await put(dev, policy(17 * 1024))).status).toBe(201);
    expect((await put(dev, policy(251 * 1024))).json.error.message).toBe("Policy size exceeds allowed limit of 250 KB");
  });
});
