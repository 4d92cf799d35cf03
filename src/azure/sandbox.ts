/**
 * The one door from the product into the embedded sandbox tenant. Loaded on demand, so a run
 * against Azure never pays for it at start-up.
 */
import { statSync } from "node:fs";
import path from "node:path";
import { ExitCode, UserError } from "../errors.js";

/** Types only (erased at build): the sandbox's code is loaded on demand below. */
export type { SandboxInfo as SandboxEndpoints, Sandbox as RunningSandbox } from "../../sandbox/index.js";
import type { Sandbox as RunningSandbox } from "../../sandbox/index.js";

export const DEFAULT_SANDBOX_DIR = path.join(".aeg", "sandbox");

export interface SandboxStartOptions {
  stateDir: string;
  port?: number;
  apimActivationMs?: number;
  /** `azure`, `none`, or the path of a JSON latency model. */
  latency?: string;
  /** Model APIM's API-level lock (overlapping writes under one API answer 409), with this settle time. */
  apiLocks?: { settleMs: number };
}

export async function startSandbox(opts: SandboxStartOptions): Promise<RunningSandbox> {
  requireDirectory(opts.stateDir);
  const sandbox = await import("../../sandbox/index.js");
  const { latency, apiLocks, ...rest } = opts;
  try {
    return await sandbox.startSandbox({
      ...rest,
      ...(latency === undefined ? {} : { latency: latency === "azure" || latency === "none" ? latency : { file: path.resolve(latency) } }),
      ...(apiLocks ? { apiLocks: true, apiLockSettleMs: apiLocks.settleMs } : {}),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      throw new UserError(`--port: ${opts.port ?? "the port"} is already in use`, ExitCode.usage, "Pick another port, or leave --port out for a free one.");
    }
    if (err instanceof Error && err.name === "LatencyModelError") {
      throw new UserError(`--latency: ${err.message}`, ExitCode.usage, "Use azure, none, or a JSON file like {\"readMs\": 80, \"writes\": {\"apimNamedValue\": {\"ms\": 450, \"lroMs\": 5000}}} (README, \"Latency model\").");
    }
    throw inUse(err);
  }
}

/** A state directory is a directory, or nothing yet (the sandbox makes it): a file there is a usage error. */
function requireDirectory(stateDir: string): void {
  let isDirectory = true;
  try {
    isDirectory = statSync(stateDir).isDirectory();
  } catch {
    // missing: made on start
  }
  if (!isDirectory) throw new UserError(`${stateDir}: is a file, not a sandbox state directory`, ExitCode.usage, "Name a directory (it is created when missing).");
}

/** Another live sandbox on the same state directory is a usage error (exit 2), not a bug. */
function inUse(err: unknown): unknown {
  if (err instanceof Error && err.name === "SandboxInUseError") {
    return new UserError(err.message, ExitCode.usage, "Stop it, talk to it with --config <its state dir>/aeg.yaml (aeg sandbox start writes one), or use another --sandbox-dir / --state-dir.");
  }
  return err;
}

export async function resetSandbox(stateDir: string): Promise<void> {
  requireDirectory(stateDir);
  const sandbox = await import("../../sandbox/index.js");
  await sandbox.resetSandbox(stateDir).catch((err: unknown) => {
    throw inUse(err);
  });
}

/** A contract row a seeded persona exercises against an agent, and the answer the gateway owes. */
export interface SandboxPersonaCheck {
  agentId: string;
  exercises: string;
  expected: { status: number; denyReason: string; anomaly: boolean };
  /** The expectation holds only for this token version, or only with the Graph fallback on/off. */
  tokenVersion?: "v1" | "v2";
  graphFallback?: boolean;
}

/** A seeded persona: its row against the first agent, and any further checks. */
export interface SandboxPersona extends Omit<SandboxPersonaCheck, "agentId"> {
  name: string;
  displayName: string;
  oid: string;
  upn: string;
  groups: string[];
  alsoExercises?: SandboxPersonaCheck[];
}

/** The seeded test personas and the agents the sandbox's governance store knows. */
export async function sandboxPersonas(): Promise<{ personas: SandboxPersona[]; agents: Array<{ id: string; audienceGroupId?: string; riskLevel: number | null }> }> {
  const sandbox = await import("../../sandbox/index.js");
  return sandbox.sandboxPersonas();
}

/** An access token for a persona, from the running sandbox on `stateDir` or one started for it. */
export async function sandboxPersonaToken(stateDir: string, req: { persona: string; audience: string; version: "v1" | "v2" }): Promise<string> {
  requireDirectory(stateDir);
  const sandbox = await import("../../sandbox/index.js");
  return sandbox.personaToken(stateDir, req);
}

/** The sandbox's endpoints: the running server's, or (ports are stable) those it will listen on. */
export async function sandboxEndpoints(stateDir: string): Promise<{ gateway: string; authority: string; running: boolean }> {
  requireDirectory(stateDir);
  const sandbox = await import("../../sandbox/index.js");
  const server = sandbox.runningServer(stateDir);
  if (server) return { gateway: server.gateway, authority: server.authority, running: true };
  const started = await sandbox.startSandbox({ stateDir });
  try {
    return { gateway: started.gateway, authority: started.authority, running: false };
  } finally {
    await started.close();
  }
}

/**
 * A sandbox tenant's persona directory, asked over HTTPS at its authority: any sandbox (in-process
 * or `aeg sandbox start`) answers; a real Entra authority has no such route and answers 404.
 */
export async function personaDirectory(authority: string): Promise<
  | { personas: SandboxPersona[]; token(persona: string, audience: string, version: "v1" | "v2"): Promise<string> }
  | undefined
> {
  let res: Response;
  try {
    res = await fetch(`${authority}/_sandbox/personas`, { signal: AbortSignal.timeout(5000) });
  } catch {
    return undefined;
  }
  if (res.status !== 200) return undefined;
  const { personas } = (await res.json()) as { personas: SandboxPersona[] };
  return {
    personas,
    async token(persona, audience, version) {
      const answer = await fetch(`${authority}/_sandbox/personas/${encodeURIComponent(persona)}/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ audience, version }),
      });
      if (answer.status !== 200) throw new Error(`the sandbox refused a token for persona ${persona} (${answer.status})`);
      return ((await answer.json()) as { access_token: string }).access_token;
    },
  };
}

/** Why the sandbox gateway cannot run policy expressions here (no Mono), or undefined. */
export async function sandboxGatewayProblem(): Promise<string | undefined> {
  const sandbox = await import("../../sandbox/index.js");
  return sandbox.gatewayToolchainProblem();
}
