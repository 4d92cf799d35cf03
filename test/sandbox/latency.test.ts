import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ApiLocks, apiLockKey } from "../../sandbox/arm/apiLocks.js";
import { WriteConcurrency } from "../../sandbox/arm/concurrency.js";
import { AZURE_LATENCY, answerDelayMs, checkedModel, latencyModel, LatencyModelError, NO_LATENCY, operationMs, scaleLatency, writeKind } from "../../sandbox/arm/latency.js";
import { tempDir } from "../support/sandbox.js";

const SVC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim";

describe("the sandbox's latency model", () => {
  it.each([
    [`${SVC}/namedValues/aeg-x`, "apimNamedValue"],
    [`${SVC}/policyFragments/f`, "apimPolicyFragment"],
    [`${SVC}/apis/a`, "apimApi"],
    [`${SVC}/apis/a/operations/o`, "apimApiOperation"],
    [`${SVC}/apis/a/policies/policy`, "apimApiPolicy"],
    [`${SVC}/apis/a/operations/o/policies/policy`, "apimApiOperationPolicy"],
    [`${SVC}/loggers/l`, "apimLogger"],
    [SVC, "apimService"],
    ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns", "eventHubNamespace"],
    ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/eventhubs/h", "eventHub"],
    ["/subscriptions/s/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns/eventhubs/h/providers/Microsoft.Authorization/roleAssignments/r", "roleAssignment"],
    ["/subscriptions/s/resourcegroups/rg", "resourceGroup"],
    [`${SVC}/tenant/operationResults/1`, "other"],
  ])("names the kind of %s", (p, kind) => {
    expect(writeKind(p)).toBe(kind);
  });

  it("delays reads by readMs, writes by their kind, and runs only the operations it times", () => {
    const model = { readMs: 80, writeMs: 300, writes: { apimNamedValue: { ms: 450, lroMs: 5000 } } };
    expect(answerDelayMs(model, "GET", `${SVC}/namedValues/x`)).toBe(80);
    expect(answerDelayMs(model, "POST", `${SVC}/namedValues/x/listValue`)).toBe(80);
    expect(answerDelayMs(model, "PUT", `${SVC}/namedValues/x`)).toBe(450);
    expect(answerDelayMs(model, "PUT", `${SVC}/loggers/x`)).toBe(300);
    expect(operationMs(model, "PUT", `${SVC}/namedValues/x`)).toBe(5000);
    expect(operationMs(model, "PUT", `${SVC}/apis/a`)).toBe(0);
    expect(answerDelayMs(NO_LATENCY, "PUT", `${SVC}/apis/a`)).toBe(0);
  });

  it("the azure profile times APIM's named values as operations of seconds and keeps APIM's creation apart", () => {
    expect(AZURE_LATENCY.writes.apimNamedValue!.lroMs).toBeGreaterThanOrEqual(1000);
    expect(AZURE_LATENCY.apimServiceCreateMs).toBeGreaterThanOrEqual(30 * 60_000);
    expect(AZURE_LATENCY.writes.apimService).toBeUndefined();
    const tenth = scaleLatency(AZURE_LATENCY, 0.1);
    expect(tenth.readMs).toBe(8);
    expect(tenth.writes.apimNamedValue).toEqual({ ms: 45, lroMs: 500 });
  });

  it("reads a model from a file and names the field at fault in a bad one", () => {
    const dir = tempDir("aeg-latency-");
    const good = path.join(dir, "good.json");
    fs.writeFileSync(good, JSON.stringify({ readMs: 10, writes: { apimApiOperationPolicy: { ms: 400 } } }));
    expect(latencyModel({ file: good })).toEqual({ readMs: 10, writeMs: 0, writes: { apimApiOperationPolicy: { ms: 400 } } });
    expect(latencyModel("azure")).toBe(AZURE_LATENCY);
    expect(latencyModel(undefined)).toBe(NO_LATENCY);
    expect(() => latencyModel({ file: path.join(dir, "missing.json") })).toThrow(LatencyModelError);
    expect(() => checkedModel({ readMs: -1 }, "m.json")).toThrow("m.json: readMs must be a number of milliseconds, 0 or more");
    expect(() => checkedModel({ writes: { apimNamedValues: { ms: 1 } } }, "m.json")).toThrow(/writes.apimNamedValues is not a kind of write/);
    expect(() => checkedModel({ writes: { apimApi: { lro: 1 } } }, "m.json")).toThrow("m.json: writes.apimApi.lro is not ms or lroMs");
    expect(() => checkedModel({ readMS: 1 }, "m.json")).toThrow(/readMS is not a field/);
  });
});

describe("APIM's API lock, on a fake clock", () => {
  it("keys a write by its service and API, revisions sharing their API's lock, none outside APIs", () => {
    expect(apiLockKey(`${SVC}/apis/Aeg/operations/o/policies/policy`)).toBe("rg/apim/aeg");
    expect(apiLockKey(`${SVC}/apis/aeg;rev=2`)).toBe("rg/apim/aeg");
    expect(apiLockKey(`${SVC}/namedValues/x`)).toBeUndefined();
  });

  it("holds while a write runs, until its operation ends, then for the settle time", () => {
    let now = 1000;
    const locks = new ApiLocks(50, () => now);
    expect(locks.enter("a")).toBe(true);
    expect(locks.enter("a")).toBe(false);
    expect(locks.enter("b")).toBe(true);
    locks.leave("a", { accepted: true, operationEndsAt: 2000 });
    now = 2049;
    expect(locks.enter("a")).toBe(false);
    now = 2050;
    expect(locks.enter("a")).toBe(true);
    locks.leave("a", { accepted: false });
    expect(locks.enter("a")).toBe(true);
  });

  it("counts the writes in flight at once, a long-running one until its operation ends", () => {
    let now = 0;
    const seen = new WriteConcurrency(() => now);
    const first = seen.begin(true);
    first.end(100);
    now = 50;
    const second = seen.begin(true);
    seen.begin(false); // three in flight: the first's operation runs until 100
    second.end();
    expect(seen.snapshot()).toEqual({ maxConcurrentWrites: 3, maxConcurrentApimWrites: 2, apiConflicts: 0 });
    now = 200;
    seen.reset();
    seen.begin(true);
    expect(seen.snapshot().maxConcurrentWrites).toBe(2);
  });
});
