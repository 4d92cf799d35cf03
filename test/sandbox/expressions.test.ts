// Policy expressions compiled and run by the real Mono C# compiler through ExpressionHost.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExpressionHost, type ContextInit, type ExpressionSource } from "../../sandbox/gateway/expressions/host.js";

const cacheDir = mkdtempSync(join(tmpdir(), "aeg-expr-"));
let host: ExpressionHost;

const expr = (id: string, code: string): ExpressionSource => ({ id, kind: "expr", code });
const block = (id: string, code: string): ExpressionSource => ({ id, kind: "block", code });

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
const token = b64url({ alg: "RS256", typ: "JWT" }) + "." +
  b64url({ iss: "https://login.example/t/v2.0", upn: "alice@example.test", roles: ["Agent.Invoke", "Reader"], exp: 2000000000 }) + ".sig";

const init = (headers: Record<string, string[]> = {}): ContextInit => ({
  requestId: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  timestamp: "2025-01-02T03:04:05Z",
  request: { method: "POST", url: "https://gw.example.test/agents/invoke?x=1", headers, body: '{"agentId":"a-1"}', ipAddress: "10.0.0.5" },
  deployment: { region: "West Europe", serviceName: "aeg-apim", gatewayId: "managed" },
  api: { id: "agents", name: "Agents", path: "agents" },
  operation: { id: "invoke", name: "Invoke", method: "POST", urlTemplate: "/invoke" },
});

const UNIT: ExpressionSource[] = [
  expr("corr", `context.Request.Headers.GetValueOrDefault("X-AEG-Correlation-Id", "")`),
  expr("corrOk", `Regex.IsMatch(context.Request.Headers.GetValueOrDefault("X-AEG-Correlation-Id", ""), "^[A-Za-z0-9-]{8,64}$")`),
  expr("reqId", `context.RequestId.ToString()`),
  expr("strVar", `context.Variables.GetValueOrDefault<string>("x")`),
  expr("upn", `((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("upn", "")`),
  expr("roles", `((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("roles", "")`),
  expr("graphValue", `((IResponse)context.Variables["r"]).Body.As<JObject>()["value"].ToString(Formatting.None)`),
  expr("odata", `Uri.EscapeDataString("userPrincipalName eq '" + context.Variables.GetValueOrDefault<string>("upnIn", "").Replace("'", "''") + "'")`),
  block("decision", `
    var jwt = context.Variables.GetValueOrDefault<Jwt>("jwt");
    var record = new JObject(
        new JProperty("requestId", context.RequestId.ToString()),
        new JProperty("upn", jwt?.Claims.GetValueOrDefault("upn", "") ?? ""),
        new JProperty("allowed", context.Variables.GetValueOrDefault<bool>("allowed", false)),
        new JProperty("region", context.Deployment.Region));
    return record.ToString(Formatting.None);`),
  expr("groupCount", `((IResponse)context.Variables["r"]).Body.As<JObject>(preserveContent: true)["value"].Children().Count(g => ((string)g["displayName"]).StartsWith("AEG-"))`),
  expr("lastError", `context.LastError.Source + "/" + context.LastError.Reason`),
  expr("status", `context.Response.StatusCode`),
  expr("body", `context.Request.Body.As<JObject>(preserveContent: true)["agentId"]`),
];

beforeAll(async () => {
  host = await ExpressionHost.start({ cacheDir });
  const result = await host.compile("u1", UNIT);
  expect(result).toMatchObject({ ok: true });
});

afterAll(async () => {
  await host?.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

describe("ExpressionHost with Mono", () => {
  it("reports compile errors with the expression id and position", async () => {
    const result = await host.compile("bad", [
      expr("fine", `context.Request.Method`),
      expr("typo", `context.Request.Headers\n   .GetValueOrDefalt("a", "")`),
      block("noReturn", `var x = 1;`),
    ]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual(expect.objectContaining({ id: "typo", line: 2, column: 5, code: "CS1061" }));
    expect(result.errors).toContainEqual(expect.objectContaining({ id: "noReturn", code: "CS0161" }));
    expect(result.errors.some((e) => e.id === "fine")).toBe(false);
  });

  it("reads headers (comma-joined), matches a regex, and formats the RequestId", async () => {
    const ctx = await host.newContext(init({ "x-aeg-correlation-id": ["abc-12345", "second"] }));
    expect(await host.eval(ctx, "u1", "corr")).toEqual({ ok: true, value: "abc-12345,second", valueType: "System.String" });
    expect(await host.eval(ctx, "u1", "corrOk")).toMatchObject({ ok: true, value: false });
    expect(await host.eval(ctx, "u1", "reqId")).toMatchObject({ value: "3f2504e0-4f89-11d3-9a0c-0305e82c3301" });
    expect(await host.eval(ctx, "u1", "body")).toMatchObject({ ok: true, value: "a-1" });

    const ctx2 = await host.newContext(init());
    expect(await host.eval(ctx2, "u1", "corr")).toMatchObject({ value: "" });
    await host.dispose(ctx);
    await host.dispose(ctx2);
  });

  it("throws on a Variables.GetValueOrDefault<T> type mismatch", async () => {
    const ctx = await host.newContext(init());
    expect(await host.eval(ctx, "u1", "strVar")).toMatchObject({ ok: true, value: null });
    await host.set(ctx, "x", { type: "bool", value: true });
    const result = await host.eval(ctx, "u1", "strVar");
    expect(result).toMatchObject({ ok: false, error: { type: "System.InvalidCastException" } });
    await host.set(ctx, "x", { type: "string", value: "yes" });
    expect(await host.eval(ctx, "u1", "strVar")).toMatchObject({ ok: true, value: "yes" });
  });

  it("exposes a Jwt variable's claims, comma-joining arrays", async () => {
    const ctx = await host.newContext(init());
    await host.set(ctx, "jwt", { type: "jwt", raw: token });
    expect(await host.eval(ctx, "u1", "upn")).toMatchObject({ value: "alice@example.test" });
    expect(await host.eval(ctx, "u1", "roles")).toMatchObject({ value: "Agent.Invoke,Reader" });
  });

  it("reads a send-request response body as JObject, and runs LINQ over a JArray", async () => {
    const ctx = await host.newContext(init());
    const groups = { value: [{ displayName: "AEG-Agents" }, { displayName: "Other" }, { displayName: "AEG-Admins" }] };
    await host.set(ctx, "r", { type: "response", status: 200, reason: "OK", headers: { "content-type": ["application/json"] }, body: JSON.stringify(groups) });
    expect(await host.eval(ctx, "u1", "groupCount")).toMatchObject({ ok: true, value: 2, valueType: "System.Int32" });
    const value = await host.eval(ctx, "u1", "graphValue");
    expect(value.ok && JSON.parse(value.value as string)).toEqual(groups.value);
  });

  it("doubles OData quotes and escapes the filter", async () => {
    const ctx = await host.newContext(init());
    await host.set(ctx, "upnIn", { type: "string", value: "o'brien@example.test" });
    expect(await host.eval(ctx, "u1", "odata")).toMatchObject({
      value: "userPrincipalName%20eq%20%27o%27%27brien%40example.test%27",
    });
  });

  it("builds a decision record with JObject in a statement block", async () => {
    const ctx = await host.newContext(init());
    await host.set(ctx, "jwt", { type: "jwt", raw: token });
    await host.set(ctx, "allowed", { type: "bool", value: true });
    const result = await host.eval(ctx, "u1", "decision");
    expect(result.ok).toBe(true);
    expect(JSON.parse((result as { value: string }).value)).toEqual({
      requestId: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", upn: "alice@example.test", allowed: true, region: "West Europe",
    });
  });

  it("stores a typed result with assign, and sets LastError and Response", async () => {
    const ctx = await host.newContext(init());
    await host.set(ctx, "jwt", { type: "jwt", raw: token });
    await host.eval(ctx, "u1", "upn", { assign: "x" });
    expect(await host.eval(ctx, "u1", "strVar")).toMatchObject({ value: "alice@example.test" });
    await host.setLastError(ctx, { source: "validate-jwt", reason: "TokenExpired", message: "Lifetime validation failed." });
    expect(await host.eval(ctx, "u1", "lastError")).toMatchObject({ value: "validate-jwt/TokenExpired" });
    await host.setResponse(ctx, { status: 403, reason: "Forbidden" });
    expect(await host.eval(ctx, "u1", "status")).toMatchObject({ value: 403 });
    const dump = await host.variables(ctx);
    expect(dump.variables.x).toEqual({ value: "alice@example.test", valueType: "System.String" });
  });

  it("handles 50 evaluations in flight", async () => {
    const ctxs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => host.newContext(init({ "X-AEG-Correlation-Id": [`corr-${i}-abcdef`] }))),
    );
    const started = performance.now();
    const results = await Promise.all(ctxs.map((ctx) => host.eval(ctx, "u1", "corr")));
    const ms = performance.now() - started;
    console.log(`50 concurrent evals: ${ms.toFixed(1)} ms (${(ms / 50).toFixed(2)} ms each)`);
    results.forEach((r, i) => expect(r).toMatchObject({ ok: true, value: `corr-${i}-abcdef` }));
    await Promise.all(ctxs.map((ctx) => host.dispose(ctx)));
  });

  it("compiles a unit once", async () => {
    const exprs = [expr("n", `DateTime.UtcNow.Year > 2000`), expr("m", `"a" + "b"`)];
    let t = performance.now();
    const first = await host.compile("once", exprs);
    const firstMs = performance.now() - t;
    t = performance.now();
    const second = await host.compile("once", exprs);
    const secondMs = performance.now() - t;
    console.log(`compile: first ${firstMs.toFixed(1)} ms (${JSON.stringify(first)}), second ${secondMs.toFixed(1)} ms`);
    expect(first).toMatchObject({ ok: true, cached: "none" });
    expect(second).toMatchObject({ ok: true, cached: "memory" });
  });

  it("restarts a crashed worker and recompiles its units", async () => {
    const pid = host.pid!;
    const ctx = await host.newContext(init());
    process.kill(pid, "SIGKILL");
    await expect(host.eval(ctx, "u1", "reqId")).rejects.toThrow(/worker/);
    const ctx2 = await host.newContext(init());
    expect(host.pid).not.toBe(pid);
    expect(await host.eval(ctx2, "u1", "reqId")).toMatchObject({ ok: true });
    await expect(host.eval(ctx, "u1", "reqId")).rejects.toThrow(/unknown context/);
  });

  it("close() leaves no process behind", async () => {
    const other = await ExpressionHost.start({ cacheDir });
    const pid = other.pid!;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await other.close();
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    await expect(other.eval("c1", "u1", "reqId")).rejects.toThrow(/closed/);
  });

  it("says what to install when mono is missing", async () => {
    await expect(ExpressionHost.start({ cacheDir, mono: "/nonexistent/mono" })).rejects.toThrow(/mono-mcs mono-runtime libnewtonsoft-json5.0-cil/);
  });
});
