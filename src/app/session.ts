import { existsSync } from "node:fs";
import path from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import { armClients, type ArmClients } from "../azure/arm.js";
import { transientOptionsFor } from "../azure/transient.js";
import { identityServices, type IdentityServices } from "../azure/identity-services.js";
import { cloudProfile, type CloudProfile } from "../azure/cloud.js";
import { makeCredential } from "../azure/credentials.js";
import { DEFAULT_SANDBOX_DIR, startSandbox, type RunningSandbox } from "../azure/sandbox.js";
import { trustCaFile } from "../azure/trust.js";
import { configPath, envOverrides, FLAG_OVERRIDES, readConfigFile, resolveConfig, type Override } from "../config/load.js";
import { sandboxSampleConfig } from "../config/sandbox-sample.js";
import type { Config } from "../config/schema.js";
import { Journal } from "../engine/journal.js";

export interface SessionFlags {
  config?: string | undefined;
  env?: string | undefined;
  sandbox?: boolean | undefined;
  "sandbox-dir"?: string | undefined;
  subscription?: string | undefined;
  tenant?: string | undefined;
  "client-id"?: string | undefined;
  "resource-group"?: string | undefined;
  location?: string | undefined;
}

/** Everything a command needs to talk to one environment; `close` releases the lock and the sandbox. */
export interface Session {
  environment: string;
  config: Config;
  cloud: CloudProfile;
  credential: TokenCredential;
  arm: ArmClients;
  /** Dataverse and Graph clients. */
  identity: IdentityServices;
  journal: Journal;
  /** Where the configuration came from: its relative paths resolve against this directory. */
  configDir: string;
  sandbox?: RunningSandbox;
  notes: string[];
  pollIntervalMs: number;
  /** The templates to upload: aeg's own, or config.templatesDir. */
  templatesDir?: string;
  close(): Promise<void>;
}


export function flagOverrides(flags: SessionFlags): Override[] {
  return Object.entries(FLAG_OVERRIDES)
    .filter(([flag]) => flags[flag as keyof SessionFlags] !== undefined)
    .map(([flag, p]) => ({ path: p, value: flags[flag as keyof SessionFlags], source: `--${flag}` }));
}

/** A configuration captured in a saved plan: applied as it was, never re-read from disk. */
export interface CapturedConfig {
  value: Config;
  /** The directory its relative paths (secret files, templatesDir) are relative to. */
  dir: string;
  environment: string;
}

export async function openSession(flags: SessionFlags, opts: { lock: boolean; cwd?: string; captured?: CapturedConfig }): Promise<Session> {
  const cwd = opts.cwd ?? process.cwd();
  const notes: string[] = [];
  const captured = opts.captured;
  const file = captured ? path.join(path.resolve(cwd, captured.dir), "(plan)") : configPath(cwd, flags);
  let sandbox: RunningSandbox | undefined;
  let raw: Record<string, unknown>;
  let overrides: Override[];
  if (flags.sandbox) {
    sandbox = await startSandbox({ stateDir: path.resolve(cwd, flags["sandbox-dir"] ?? DEFAULT_SANDBOX_DIR) });
    if (captured) raw = captured.value as unknown as Record<string, unknown>;
    else if (existsSync(file)) raw = await readConfigFile(file);
    else {
      raw = sandboxSampleConfig();
      notes.push(`no ${path.basename(file)} here: using the sandbox sample configuration (two agents)`);
    }
    // The sandbox is its own tenant: identity and endpoints come from it, whatever the file says.
    overrides = [
      ...flagOverrides(flags).filter((o) => o.path[0] !== "subscriptionId" && o.path[0] !== "tenantId"),
      { path: ["subscriptionId"], value: sandbox.subscriptionId, source: "the sandbox" },
      { path: ["tenantId"], value: sandbox.tenantId, source: "the sandbox" },
      { path: ["cloud"], value: { name: "sandbox", resourceManager: sandbox.arm, authority: sandbox.authority, graph: sandbox.graph, caFile: sandbox.caFile, eventHubsEndpoint: sandbox.eventHubs }, source: "the sandbox" },
      { path: ["auth"], value: {}, source: "the sandbox" },
      { path: ["dataverse", "url"], value: sandbox.dataverse, source: "the sandbox" },
    ];
  } else if (captured) {
    // Exactly what was planned: no file, no variable, no flag changes it.
    raw = captured.value as unknown as Record<string, unknown>;
    overrides = [];
  } else {
    raw = await readConfigFile(file);
    overrides = [...envOverrides(process.env), ...flagOverrides(flags)];
  }
  try {
    const config = resolveConfig(raw, overrides);
    const cloud = cloudProfile(config.cloud);
    if (cloud.caFile) trustCaFile(path.resolve(path.dirname(file), cloud.caFile));
    const credential = sandbox
      ? new ClientSecretCredential(sandbox.tenantId, sandbox.clientId, sandbox.clientSecret, { authorityHost: sandbox.authority, disableInstanceDiscovery: true })
      : await makeCredential(cloud, { tenantId: config.tenantId, clientId: config.auth.clientId, clientSecretFile: config.auth.clientSecretFile && path.resolve(path.dirname(file), config.auth.clientSecretFile) });
    const environment = captured?.environment ?? flags.env ?? (flags.sandbox ? "sandbox" : "default");
    const journal = await Journal.open(path.join(cwd, ".aeg", "state"), environment, { lock: opts.lock });
    // Azure takes tens of minutes to create APIM: poll it gently. Local tenants answer in seconds.
    const pollIntervalMs = Number(process.env.AEG_POLL_INTERVAL_MS) || (cloud.name === "custom" || cloud.sandbox ? 500 : 20_000);
    return {
      environment,
      config,
      cloud,
      credential,
      arm: armClients(cloud, credential, config.subscriptionId, { transient: transientOptionsFor(pollIntervalMs) }),
      identity: identityServices(cloud, credential),
      journal,
      configDir: path.dirname(file),
      ...(sandbox ? { sandbox } : {}),
      notes,
      ...(config.templatesDir ? { templatesDir: path.resolve(path.dirname(file), config.templatesDir) } : {}),
      pollIntervalMs,
      async close() {
        await journal.close();
        await sandbox?.close();
      },
    };
  } catch (err) {
    await sandbox?.close();
    throw err;
  }
}
