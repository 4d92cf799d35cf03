// Test harness: a sandbox in a temp dir, trusted by this process, with real SDK clients.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { ClientSecretCredential } from "@azure/identity";
import { ApiManagementClient } from "@azure/arm-apimanagement";
import { EventHubManagementClient } from "@azure/arm-eventhub";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { ResourceManagementClient } from "@azure/arm-resources";
import { startSandbox, type Sandbox, type SandboxOptions } from "../../sandbox/index.js";

export const ARM_SCOPE = "https://management.azure.com/.default";
export const FAST = { updateIntervalInMs: 5 };

const trusted = new Set<string>();

/** Lets this process's TLS clients (SDKs, fetch) trust the sandbox CA. */
export function trustCa(caFile: string): void {
  const pem = fs.readFileSync(caFile, "utf8");
  if (trusted.has(pem)) return;
  trusted.add(pem);
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), ...trusted]);
}

export function tempDir(prefix = "aeg-sandbox-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestSandbox {
  sb: Sandbox;
  dir: string;
  traffic: string;
}

export async function startTestSandbox(opts: Partial<SandboxOptions> = {}): Promise<TestSandbox> {
  const dir = opts.stateDir ?? tempDir();
  const traffic = opts.trafficFile ?? path.join(dir, "traffic.jsonl");
  const sb = await startSandbox({ apimActivationMs: 200, lroPolls: 1, retryAfterSeconds: 0, ...opts, stateDir: dir, trafficFile: traffic });
  trustCa(sb.caFile);
  return { sb, dir, traffic };
}

/** The sandbox's applications: Owner, Reader and Contributor on the subscription. */
export type SandboxApp = "operator" | "reader" | "contributor";

export function credential(sb: Sandbox, who: SandboxApp = "operator"): ClientSecretCredential {
  const apps: Record<SandboxApp, [string, string]> = {
    operator: [sb.clientId, sb.clientSecret],
    reader: [sb.readerClientId, sb.readerClientSecret],
    contributor: [sb.contributorClientId, sb.contributorClientSecret],
  };
  const [id, secret] = apps[who];
  return new ClientSecretCredential(sb.tenantId, id, secret, { authorityHost: sb.authority, disableInstanceDiscovery: true });
}

/** The real SDK clients, pointed at the sandbox; no retries so fault tests see raw answers. */
export function clients(sb: Sandbox, who: SandboxApp = "operator") {
  const cred = credential(sb, who);
  const common = { endpoint: sb.arm, credentialScopes: [ARM_SCOPE], retryOptions: { maxRetries: 0 } };
  return {
    cred,
    resources: new ResourceManagementClient(cred, sb.subscriptionId, { endpoint: sb.arm, credentials: { scopes: [ARM_SCOPE] }, retryOptions: { maxRetries: 0 } }),
    apim: new ApiManagementClient(cred, sb.subscriptionId, common),
    eventHub: new EventHubManagementClient(cred, sb.subscriptionId, { endpoint: sb.arm, credentials: { scopes: [ARM_SCOPE] }, retryOptions: { maxRetries: 0 } }),
    authorization: new AuthorizationManagementClient(cred, sb.subscriptionId, common),
  };
}

/** Calls an ARM path with the operator's token (for operations no SDK here covers). */
export async function armFetch(sb: Sandbox, method: string, pathAndQuery: string, body?: unknown, token?: string): Promise<{ status: number; headers: Headers; json: any }> {
  const t = token ?? (await credential(sb).getToken(ARM_SCOPE)).token;
  const res = await fetch(`${sb.arm}${pathAndQuery}`, {
    method,
    headers: { authorization: `Bearer ${t}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Calls the sandbox admin API (no auth). */
export async function admin(sb: Sandbox, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${sb.arm}/_sandbox${p}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/** Polls `probe` until it returns a truthy value or the deadline passes (no fixed sleeps). */
export async function until<T>(probe: () => Promise<T | undefined | false>, deadlineMs = 10_000, everyMs = 20): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error("Condition not met before the deadline.");
    await sleep(everyMs);
  }
}

/** Expects a promise to reject with an SDK RestError; returns status, code and body. */
export async function restError(p: Promise<unknown>): Promise<{ statusCode: number; code: string; message: string; body: any }> {
  try {
    await p;
  } catch (e) {
    const err = e as { statusCode?: number; code?: string; message: string; response?: { bodyAsText?: string }; details?: unknown };
    let body: any;
    try {
      body = err.response?.bodyAsText ? JSON.parse(err.response.bodyAsText) : err.details;
    } catch {
      body = err.response?.bodyAsText;
    }
    return { statusCode: err.statusCode ?? 0, code: err.code ?? "", message: err.message, body };
  }
  throw new Error("Expected the call to fail, but it succeeded.");
}
