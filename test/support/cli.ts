import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { ApiManagementClient } from "@azure/arm-apimanagement";
import { parse, stringify } from "yaml";
import type { Sandbox, SandboxOptions } from "../../sandbox/index.js";
import { writeSandboxConfig } from "../../src/app/sandbox-config.js";
import { clients, startTestSandbox } from "./sandbox.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = path.join(repoRoot, "bin", "run.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command line and environment of the built CLI, for tests that start it some other way. */
export const aegArgv = (args: string[]): string[] => [process.execPath, bin, ...args];
export const aegEnv = (env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...process.env, NO_COLOR: "1", AEG_POLL_INTERVAL_MS: "50", ...env });

/** The built CLI as a child process, as a user runs it (dist/ must be built: `npm test` does). */
export function spawnAeg(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const [node, ...rest] = aegArgv(args);
  return spawn(node!, rest, { cwd: opts.cwd, env: aegEnv(opts.env), stdio: ["ignore", "pipe", "pipe"] });
}

export function runAeg(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const child = spawnAeg(args, opts);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls until `check` returns a value, or fails after the deadline. No fixed sleeps. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, what: string, deadlineMs = 30_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export interface TestTenant {
  sandbox: Sandbox;
  /** The working directory the CLI runs in (its .aeg/state lives here). */
  cwd: string;
  configFile: string;
  trafficFile: string;
  /** Real SDK client on the sandbox, for out-of-band changes. */
  apim: ApiManagementClient;
  /** ARM writes (PUT/PATCH/DELETE, and POSTs other than list* reads) the sandbox served since the last reset. */
  armWrites(): Promise<number>;
  resetCounters(): Promise<void>;
  close(): Promise<void>;
}

/** A sandbox tenant of its own in a temp dir, with a ready aeg.yaml, for one test file. */
export async function testTenant(opts: Partial<SandboxOptions> = {}): Promise<TestTenant> {
  const cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-e2e-"));
  const stateDir = path.join(cwd, "tenant");
  const trafficFile = path.join(cwd, "traffic.jsonl");
  const { sb: sandbox } = await startTestSandbox({ apimActivationMs: 1500, ...opts, stateDir, trafficFile });
  const configFile = await writeSandboxConfig(sandbox, stateDir);
  const { apim } = clients(sandbox);
  const admin = (p: string, init?: RequestInit) => fetch(`${sandbox.arm}/_sandbox/${p}`, init);
  return {
    sandbox,
    cwd,
    configFile,
    trafficFile,
    apim,
    async armWrites() {
      // The sandbox's own count: a POST that only reads (listReferences, listValue) is no write.
      return ((await (await admin("requests")).json()) as { writes: number }).writes;
    },
    async resetCounters() {
      await admin("requests/reset", { method: "POST" });
    },
    close: () => sandbox.close(),
  };
}

/** The tenant's configuration changed by `patch`, written beside it as `name`; returns its path. */
export async function configWith(tenant: TestTenant, name: string, patch: (config: Record<string, any>) => void): Promise<string> {
  const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
  patch(config);
  const file = path.join(tenant.cwd, name);
  await writeFile(file, stringify(config));
  return file;
}
