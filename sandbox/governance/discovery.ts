// Finding a running sandbox from its state directory: while one runs it writes server.json (base
// URLs and CA file, never secrets) next to its lock, so another process (the CLI, a test) can
// reach its admin routes instead of starting a second sandbox on the same state.
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { holderAlive, lockHolder } from "../lock.js";
import { writeAtomic } from "../state-dir.js";
import type { PersonaTokenRequest } from "./tokens.js";

export const SERVER_FILE = "server.json";

/** What any local process may know of a sandbox: its listeners, CA file and tenant; no secret. */
export interface PublicInfo {
  arm: string;
  authority: string;
  graph: string;
  dataverse: string;
  gateway: string;
  caFile: string;
  tenantId: string;
}

export interface ServerInfo extends PublicInfo {
  pid: number;
}

export function writeServerInfo(stateDir: string, info: PublicInfo): void {
  writeAtomic(path.join(stateDir, SERVER_FILE), JSON.stringify({ pid: process.pid, ...info }, null, 2));
}

export function removeServerInfo(stateDir: string): void {
  fs.rmSync(path.join(stateDir, SERVER_FILE), { force: true });
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/**
 * The sandbox serving this state directory, or undefined. server.json alone is not proof (a
 * kill -9 leaves it behind): the lock must be held by a live process, the one that wrote it.
 */
export function runningServer(stateDir: string): ServerInfo | undefined {
  const info = readJson<ServerInfo>(path.join(stateDir, SERVER_FILE));
  if (!info) return undefined;
  const holder = lockHolder(stateDir);
  return holder && holder.pid === info.pid && holderAlive(holder) ? info : undefined;
}

/** POSTs JSON over TLS trusting only the sandbox CA (no change to the process's trust store). */
function postJson(url: string, caFile: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const ca = fs.readFileSync(caFile, "utf8");
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", ca, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } }, (res) => {
      let out = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (out += c));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: out ? JSON.parse(out) : undefined });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("error", reject);
    req.end(text);
  });
}

export interface StartedForToken {
  authority: string;
  caFile: string;
  close(): Promise<void>;
}

/**
 * A persona token for the sandbox on `stateDir`: from the running sandbox's admin route when one
 * runs, else from a sandbox started here for the purpose and closed again. (A v2 token names the
 * authority URL in `iss`, and that URL's port changes between runs: mint v2 tokens while the
 * sandbox that will check them is running.)
 */
export async function personaTokenVia(stateDir: string, req: PersonaTokenRequest, start: (stateDir: string) => Promise<StartedForToken>): Promise<string> {
  const name = typeof req.persona === "string" ? req.persona : req.persona.name;
  const running = runningServer(stateDir);
  const sb = running ? undefined : await start(stateDir);
  try {
    const target = running ?? sb!;
    const res = await postJson(`${target.authority}/_sandbox/personas/${encodeURIComponent(name)}/token`, target.caFile, { audience: req.audience, version: req.version });
    const body = res.json as { access_token?: string; error?: { message?: string } } | undefined;
    if (res.status !== 200 || !body?.access_token) throw new Error(`The sandbox refused a token for persona '${name}': ${body?.error?.message ?? `HTTP ${res.status}`}`);
    return body.access_token;
  } finally {
    await sb?.close();
  }
}
