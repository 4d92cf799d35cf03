import { mkdtemp, readFile } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { runAeg, spawnAeg } from "../support/cli.js";

describe("aeg sandbox start", () => {
  it("serves a tenant other clients can use: a token from its endpoint, and aeg setup --config", async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-server-"));
    const server = spawnAeg(["sandbox", "start", "--state-dir", path.join(cwd, "tenant"), "--apim-activation-ms", "500"], { cwd });
    const closed = new Promise<number | null>((resolve) => server.on("close", resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: server.stdout! }).once("line", resolve);
        server.once("close", () => reject(new Error("sandbox start exited before listening")));
      });
      const info = JSON.parse(line) as Record<string, string>;
      for (const key of ["arm", "authority", "graph", "dataverse", "gateway", "caFile", "tenantId", "subscriptionId", "clientId", "clientSecret", "checkpointStore", "config"]) {
        expect(info[key], key).toBeTruthy();
      }

      // A plain client: the standard client-credentials request, over TLS with the printed CA.
      const ca = await readFile(info.caFile!, "utf8");
      const token = await httpsJson(`${info.authority}/${info.tenantId}/oauth2/v2.0/token`, ca, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: info.clientId!, client_secret: info.clientSecret!, scope: `${info.arm}/.default` }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      expect(token.status).toBe(200);
      const sub = await httpsJson(`${info.arm}/subscriptions/${info.subscriptionId}?api-version=2022-12-01`, ca, {
        headers: { authorization: `Bearer ${(token.body as { access_token: string }).access_token}` },
      });
      expect(sub.status).toBe(200);
      // The printed checkpoint container is there for the tenant's tokens (aeg sink --checkpoint-store).
      const storageToken = await httpsJson(`${info.authority}/${info.tenantId}/oauth2/v2.0/token`, ca, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: info.clientId!, client_secret: info.clientSecret!, scope: "https://storage.azure.com/.default" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      const container = await httpsText(`${info.checkpointStore}?restype=container&comp=list`, ca, { authorization: `Bearer ${(storageToken.body as { access_token: string }).access_token}`, "x-ms-version": "2021-12-02" });
      expect(container.status, container.text).toBe(200);
      expect(container.text).toContain("<EnumerationResults");

      const setup = await runAeg(["setup", "--skip-validation", "--config", info.config!, "--ci"], { cwd });
      expect(setup.code).toBe(0);
      expect((await runAeg(["doctor", "--config", info.config!, "--ci"], { cwd })).code).toBe(0);

      // Personas and tokens from the running server, then a call anyone could make with curl.
      const stateDir = path.join(cwd, "tenant");
      const listed = await runAeg(["sandbox", "personas", "--state-dir", stateDir, "--json"], { cwd });
      expect(listed.code).toBe(0);
      const { personas, agents, running } = JSON.parse(listed.stdout) as { personas: Array<{ name: string }>; agents: Array<{ id: string; url: string }>; running: boolean };
      expect(running).toBe(true);
      expect(personas.map((p) => p.name)).toContain("alice");
      const kb = agents.find((a) => a.id === "contoso-kb-assistant")!;
      expect(kb.url.startsWith(info.gateway!)).toBe(true);
      const alice = await runAeg(["sandbox", "token", "--persona", "alice", "--state-dir", stateDir], { cwd });
      expect(alice.code).toBe(0);
      const answer = await httpsJson(kb.url, ca, { method: "POST", headers: { authorization: `Bearer ${alice.stdout.trim()}` }, body: "{}" });
      expect(answer.status).toBe(200);
      const denied = await httpsJson(kb.url, ca, { method: "POST", headers: { authorization: `Bearer ${(await runAeg(["sandbox", "token", "--persona", "noah", "--state-dir", stateDir], { cwd })).stdout.trim()}` } });
      expect(denied).toMatchObject({ status: 403, body: { denyReason: "OutOfPolicyAudience" } });
    } finally {
      server.kill("SIGTERM");
    }
    expect(await closed).toBe(0);
  });
});

function httpsText(url: string, ca: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { headers, ca }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on("error", reject);
  });
}

function httpsJson(url: string, ca: string, init: { method?: string; body?: string; headers?: Record<string, string> }): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? "GET", headers: init.headers, ca }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}
