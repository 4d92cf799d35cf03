import { createEmptyPipeline, createHttpHeaders, createPipelineRequest, type HttpClient, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { explainAzureError } from "../../src/azure/errors.js";
import { backoffMs, transientOptionsFor, transientRetryPolicy, TransientRefusalError, transientRule, type TransientOptions } from "../../src/azure/transient.js";
import { UserError } from "../../src/errors.js";

const FAST: TransientOptions = { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2, random: () => 0.5 };

interface Canned {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A pipeline with only the transient policy, over a fake HTTP client answering from a script. */
function pipelineOver(script: (n: number) => Canned, opts: TransientOptions = FAST) {
  const sent: PipelineRequest[] = [];
  const http: HttpClient = {
    async sendRequest(request): Promise<PipelineResponse> {
      sent.push(request);
      const { status, body, headers } = script(sent.length - 1);
      return { request, status, headers: createHttpHeaders(headers), bodyAsText: body === undefined ? "" : JSON.stringify(body) };
    },
  };
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(transientRetryPolicy(opts));
  return {
    sent,
    send: (headers: Record<string, string> = {}) =>
      pipeline.sendRequest(http, createPipelineRequest({ url: "https://arm.example/apis/x/operations/y/policies/policy", method: "PUT", headers: createHttpHeaders(headers) })),
  };
}

const APIM_LOCK = { error: { code: "PessimisticConcurrencyConflict", message: "Operation on the API is in progress", details: null } };

describe("transient refusals", () => {
  it("retries APIM's API lock until it clears, then returns the answer", async () => {
    const p = pipelineOver((n) => (n < 2 ? { status: 409, body: APIM_LOCK } : { status: 200, body: {} }));
    expect((await p.send()).status).toBe(200);
    expect(p.sent).toHaveLength(3);
  });

  it.each([
    ["409 PessimisticConcurrencyConflict", { status: 409, body: APIM_LOCK }, "PessimisticConcurrencyConflict"],
    ["409 Conflict naming the API lock", { status: 409, body: { error: { code: "Conflict", message: "Operation on the API is in progress" } } }, "Conflict (operation on the API in progress)"],
    ["422 ManagementApiRequestFailed", { status: 422, body: { error: { code: "ManagementApiRequestFailed", message: "Management API timed out" } } }, "ManagementApiRequestFailed"],
    ["409 AnotherOperationInProgress", { status: 409, body: { error: { code: "AnotherOperationInProgress", message: "Another operation on this or dependent resource is in progress." } } }, "AnotherOperationInProgress"],
    ["409 Event Hubs conflict in backend", { status: 409, body: { error: { code: "Conflict", message: "Namespace update failed with conflict in backend." } } }, "Conflict (Event Hubs backend)"],
    ["429 with no Retry-After", { status: 429, body: { error: { code: "TooManyRequests", message: "Namespace provisioning in transition" } } }, "TooManyRequests (no Retry-After)"],
    ["412 without If-Match", { status: 412, body: { error: { code: "PreconditionFailed", message: "locked" } } }, "PreconditionFailed (entity locked)"],
  ] as const)("retries %s, up to the bound, then throws it with the count", async (_name, answer, rule) => {
    const p = pipelineOver(() => answer);
    const err = await p.send().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientRefusalError);
    expect((err as TransientRefusalError).rule.name).toBe(rule);
    expect((err as TransientRefusalError).retries).toBe(FAST.maxRetries);
    expect(p.sent).toHaveLength(FAST.maxRetries + 1);
  });

  it.each([
    ["a 409 that is a real conflict", { status: 409, body: { error: { code: "Conflict", message: "Link already exists between specified Tag and Api." } } }],
    ["a 412 against a specific ETag (drift)", { status: 412, body: { error: { code: "PreconditionFailed", message: "changed" } } }, { "If-Match": '"etag-1"' }],
    ["a 429 with Retry-After (the SDK's own policy retries it)", { status: 429, body: { error: { code: "TooManyRequests" } }, headers: { "Retry-After": "1" } }],
    ["a 500 (the SDK's own policy retries it)", { status: 500, body: { error: { code: "InternalServerError" } } }],
    ["a 400", { status: 400, body: { error: { code: "ValidationError", message: "bad" } } }],
  ] as const)("passes %s through untouched", async (_name, answer, headers = {}) => {
    const p = pipelineOver(() => answer);
    expect((await p.send(headers)).status).toBe(answer.status);
    expect(p.sent).toHaveLength(1);
  });

  it("a 412 sent with If-Match: * is APIM's entity lock, retried", () => {
    expect(transientRule({ status: 412, ifMatch: "*" })?.name).toBe("PreconditionFailed (entity locked)");
    expect(transientRule({ status: 412, ifMatch: '"abc"' })).toBeUndefined();
  });

  it("backs off exponentially with jitter, never above the cap", () => {
    const opts = { maxRetries: 8, baseDelayMs: 100, maxDelayMs: 1000 };
    const low = (n: number) => backoffMs(n, { ...opts, random: () => 0 });
    const high = (n: number) => backoffMs(n, { ...opts, random: () => 0.999999 });
    expect([0, 1, 2, 3, 4, 5].map(high)).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3, 4, 5].map(low)).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it("scales the back-off with the session's poll interval", () => {
    expect(transientOptionsFor(20_000)).toMatchObject({ baseDelayMs: 2000, maxDelayMs: 60_000 });
    expect(transientOptionsFor(500)).toMatchObject({ baseDelayMs: 50, maxDelayMs: 1500 });
  });

  it("after the bound, the error names the code, the retries and what to do", async () => {
    const p = pipelineOver(() => ({ status: 409, body: APIM_LOCK }));
    const err = explainAzureError(await p.send().catch((e: unknown) => e), "api", "API Management Service Contributor");
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toBe("api: Azure answered 409 PessimisticConcurrencyConflict and still did after 3 retries: Operation on the API is in progress");
    expect((err as UserError).exitCode).toBe(1);
    expect((err as UserError).hint).toMatch(/wait for it to finish, then run aeg setup again/);
  });
});
