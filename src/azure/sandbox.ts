/**
 * The one door from the product into the embedded sandbox tenant. Loaded on demand, so a run
 * against Azure never pays for it at start-up.
 */
import path from "node:path";

export interface SandboxEndpoints {
  arm: string;
  authority: string;
  graph: string;
  dataverse: string;
  gateway: string;
  caFile: string;
  tenantId: string;
  subscriptionId: string;
  clientId: string;
  clientSecret: string;
  readerClientId: string;
  readerClientSecret: string;
}

export interface RunningSandbox extends SandboxEndpoints {
  close(): Promise<void>;
}

export const DEFAULT_SANDBOX_DIR = path.join(".aeg", "sandbox");

export async function startSandbox(opts: { stateDir: string; port?: number; apimActivationMs?: number }): Promise<RunningSandbox> {
  const sandbox = await import("../../sandbox/index.js");
  return sandbox.startSandbox(opts);
}

export async function resetSandbox(stateDir: string): Promise<void> {
  const sandbox = await import("../../sandbox/index.js");
  await sandbox.resetSandbox(stateDir);
}
