import { existsSync, statSync } from "node:fs";
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
import { configFileProblems, withAbsolutePaths } from "../config/files.js";
import { checkEnvironmentName, configPath, envOverrides, FLAG_OVERRIDES, pollInterval, readConfigFile, resolveConfig, type Override } from "../config/load.js";
import { sandboxSampleConfig } from "../config/sandbox-sample.js";
import type { Config } from "../config/schema.js";
import { Journal } from "../engine/journal.js";
import { ConfigError } from "../errors.js";

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


function flagOverrides(flags: SessionFlags): Override[] {
  return Object.entries(FLAG_OVERRIDES)
    .filter(([flag]) => flags[flag as keyof SessionFlags] !== undefined)
    .map(([flag, p]) => ({ path: p, value: flags[flag as keyof SessionFlags], source: `--${flag}` }));
}

/**
 * The APIM instance the configuration names, read from the file alone (or the sandbox sample):
 * no sandbox is started, nothing is signed in to, nothing is sent. `teardown` checks --confirm
 * against it before anything else happens.
 */
export async function configuredApimName(flags: SessionFlags, cwd = process.cwd()): Promise<string> {
  checkEnvironmentName(flags.env);
  const file = configPath(cwd, flags);
  const raw = flags.sandbox && !existsSync(file) ? sandboxSampleConfig() : await readConfigFile(file);
  const override = flags.sandbox ? undefined : envOverrides(process.env).find((o) => o.path.join(".") === "apim.name");
  const name = override?.value ?? (raw["apim"] as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string" || !name.trim()) throw new ConfigError([`${path.basename(file)}: apim.name: required`]);
  return name;
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
  checkEnvironmentName(flags.env);
  const captured = opts.captured;
  const file = captured ? path.join(path.resolve(cwd, captured.dir), "(plan)") : configPath(cwd, flags);
  let sandbox: RunningSandbox | undefined;
  let raw: Record<string, unknown>;
  let overrides: Override[];
  if (flags.sandbox) {
    // Read the file first: a bad one must not leave a started sandbox holding the process open.
    if (captured) raw = captured.value as unknown as Record<string, unknown>;
    else if (existsSync(file)) raw = await readConfigFile(file);
    else {
      raw = sandboxSampleConfig();
      notes.push(`no ${path.basename(file)} here: using the sandbox sample configuration (two agents)`);
    }
    sandbox = await startSandbox({ stateDir: sandboxDir(cwd, flags["sandbox-dir"]) });
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
    const config = withAbsolutePaths(resolveConfig(raw, overrides), path.dirname(file));
    // Every file and variable the configuration names, before anything is read or written.
    const problems = await configFileProblems(config, process.env);
    if (problems.length > 0) throw new ConfigError(problems);
    const pollIntervalMs = pollInterval(process.env, config.cloud.name === "custom" || config.cloud.name === "sandbox" ? 500 : 20_000);
    const cloud = cloudProfile(config.cloud);
    if (cloud.caFile) trustCaFile(cloud.caFile);
    const credential = sandbox
      ? new ClientSecretCredential(sandbox.tenantId, sandbox.clientId, sandbox.clientSecret, { authorityHost: sandbox.authority, disableInstanceDiscovery: true })
      : await makeCredential(cloud, { tenantId: config.tenantId, clientId: config.auth.clientId, clientSecretFile: config.auth.clientSecretFile });
    const environment = captured?.environment ?? flags.env ?? (flags.sandbox ? "sandbox" : "default");
    const journal = await Journal.open(path.join(cwd, ".aeg", "state"), environment, { lock: opts.lock });
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
      ...(config.templatesDir ? { templatesDir: config.templatesDir } : {}),
      // Azure takes tens of minutes to create APIM: poll it gently. Local tenants answer in seconds.
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

/** The sandbox's state directory: created when missing, refused when something else is there. */
function sandboxDir(cwd: string, flag: string | undefined): string {
  const dir = path.resolve(cwd, flag ?? DEFAULT_SANDBOX_DIR);
  let isDirectory = true;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    // missing: the sandbox creates it
  }
  if (!isDirectory) throw new ConfigError([`${flag ? "--sandbox-dir" : "the sandbox directory"}: ${dir} is a file, not a directory`]);
  return dir;
}
