// The Dataverse and Graph clients against faults: 429 with Retry-After, 503 and a dropped
// connection are retried where that cannot duplicate a write; a POST is never sent twice unless
// the server said it did not process it (429).
import https from "node:https";
import type { AddressInfo } from "node:net";
import fs from "node:fs";
import path from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DataverseClient } from "../../src/azure/dataverse.js";
import { GraphClient } from "../../src/azure/graph.js";
import { retryAfterMs } from "../../src/azure/service-pipeline.js";
import { startTestSandbox, type TestSandbox } from "../support/sandbox.js";

type Script = Array<"429" | "503" | "drop" | "ok">;
let sandbox: TestSandbox;
let server: https.Server;
let base = "";
let script: Script = [];
const seen: Array<{ method: string; url: string }> = [];
const credential: TokenCredential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) };
const fast = { baseDelayMs: 10 };

beforeAll(async () => {
  sandbox = await startTestSandbox(); // for its CA and server certificate
  const tls = { key: fs.readFileSync(path.join(sandbox.dir, "server.key.pem")), cert: fs.readFileSync(path.join(sandbox.dir, "server.pem")) };
  server = https.createServer(tls, (req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url! });
      const next = script.shift() ?? "ok";
      if (next === "drop") return void res.destroy();
      if (next === "429") return void res.writeHead(429, { "Retry-After": "1", "Content-Type": "application/json" }).end(JSON.stringify({ error: { code: "0x80072322", message: "Number of requests exceeded the limit" } }));
      if (next === "503") return void res.writeHead(503, { "Content-Type": "application/json" }).end(JSON.stringify({ error: { code: "", message: "unavailable" } }));
      if (req.method === "POST") return void res.writeHead(204, { "OData-EntityId": `${base}/api/data/v9.2/systemusers(11111111-2222-3333-4444-555555555555)` }).end();
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ value: [{ businessunitid: "root" }], id: "sp", appId: "app" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.close();
  await sandbox.sb.close();
});
beforeEach(() => {
  seen.length = 0;
});

const dataverse = () => new DataverseClient(base, credential, undefined, fast);

describe("the shared retry policy", () => {
  it("waits Retry-After on a 429, then succeeds (reads and writes alike)", async () => {
    script = ["429"];
    const started = Date.now();
    expect(await dataverse().rootBusinessUnit()).toBe("root");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(seen).toHaveLength(2);
    seen.length = 0;
    script = ["429"];
    await dataverse().createApplicationUser("11111111-2222-3333-4444-555555555555", "root", "x");
    expect(seen.filter((r) => r.method === "POST")).toHaveLength(2); // the throttled one was not processed
  });

  it("retries a read through a 503 and a dropped connection", async () => {
    script = ["503", "drop"];
    expect(await dataverse().rootBusinessUnit()).toBe("root");
    expect(seen).toHaveLength(3);
    script = ["503"];
    expect((await new GraphClient({ graph: base, graphAudience: "https://graph.microsoft.com" } as never, credential, undefined, fast).servicePrincipal("x")).appId).toBe("app");
  });

  it("never repeats a POST after a 503 or a dropped connection (it may have been processed)", async () => {
    script = ["503"];
    await expect(dataverse().assignRole("u", "r")).rejects.toMatchObject({ statusCode: 503 });
    expect(seen).toHaveLength(1);
    seen.length = 0;
    script = ["drop"];
    await expect(dataverse().createRole("r", "root", "d")).rejects.toBeInstanceOf(Error);
    expect(seen).toHaveLength(1);
  });

  it("hands back a 429 whose Retry-After is longer than it will wait, without waiting", async () => {
    script = ["429"];
    const started = Date.now();
    await expect(new DataverseClient(base, credential, undefined, { ...fast, maxRetryAfterMs: 500 }).rootBusinessUnit()).rejects.toMatchObject({ statusCode: 429 });
    expect(Date.now() - started).toBeLessThan(900);
    expect(seen).toHaveLength(1);
  });

  it("reads Retry-After in seconds or as a date", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});
