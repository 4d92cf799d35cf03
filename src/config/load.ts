import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { ConfigSchema, type Config } from "./schema.js";

/** A value that overrides the file, and where it came from (so an error can name the flag or variable). */
export interface Override {
  path: (string | number)[];
  value: unknown;
  source: string; // e.g. "--subscription" or "AEG_SUBSCRIPTION_ID"
}

/** Environment variables aeg reads, with the config field each one sets. */
export const ENV_OVERRIDES: Record<string, (string | number)[]> = {
  AEG_SUBSCRIPTION_ID: ["subscriptionId"],
  AEG_TENANT_ID: ["tenantId"],
  AEG_RESOURCE_GROUP: ["resourceGroup"],
  AEG_LOCATION: ["location"],
  AEG_APIM_NAME: ["apim", "name"],
  AEG_CLIENT_ID: ["auth", "clientId"],
};

/** Flags that set a config field (flag name without the dashes). */
export const FLAG_OVERRIDES: Record<string, (string | number)[]> = {
  subscription: ["subscriptionId"],
  tenant: ["tenantId"],
  "client-id": ["auth", "clientId"],
  "resource-group": ["resourceGroup"],
  location: ["location"],
};

export function envOverrides(env: NodeJS.ProcessEnv): Override[] {
  return Object.entries(ENV_OVERRIDES)
    .filter(([name]) => env[name] !== undefined && env[name] !== "")
    .map(([name, p]) => ({ path: p, value: env[name], source: name }));
}

/** The file a run reads: --config wins; otherwise aeg.yaml, or aeg.<env>.yaml with --env. */
export function configPath(cwd: string, opts: { config?: string; env?: string }): string {
  if (opts.config) return path.resolve(cwd, opts.config);
  return path.join(cwd, opts.env && opts.env !== "default" ? `aeg.${opts.env}.yaml` : "aeg.yaml");
}

/** More than any configuration needs: a bigger file is a wrong file (a log, a binary). */
const MAX_CONFIG_BYTES = 1024 * 1024;

export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  const name = path.basename(file);
  let text: string;
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new ConfigError([`${file}: is a directory, not a configuration file`]);
    if (info.size > MAX_CONFIG_BYTES) throw new ConfigError([`${file}: ${info.size} bytes, more than a configuration file can be (1 MiB)`]);
    text = await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ConfigError([`${file}: not found`], "Create it (see README, Configuration), pass --config FILE, or try --sandbox.");
    }
    throw new ConfigError([`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  if (text.includes("\u0000")) throw new ConfigError([`${name}: is not a text file`]);
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const message = e.code === "MULTIPLE_DOCS" ? "holds more than one YAML document (a second '---'): aeg reads one" : (e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
        return `${name}${at ? `:${at.line}:${at.col}` : ""}: ${message}`;
      }),
    );
  }
  let data: unknown;
  try {
    // yaml refuses to expand more aliases than this (a "billion laughs" file would take all memory).
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`${name}: ${(err as Error).message.split("\n")[0]}`], "Write the settings out instead of repeating them through YAML aliases.");
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) throw new ConfigError([`${name}: must be a mapping of settings`]);
  return data as Record<string, unknown>;
}

// An environment name becomes part of file names (aeg.<env>.yaml, .aeg/state/<env>.json,
// .aeg/sink/<env>/): no separators, no dot segments, nothing a shell or a file system mangles.
const ENVIRONMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** Throws a usage error unless `name` can name an environment. */
export function checkEnvironmentName(name: string | undefined): void {
  if (name === undefined || ENVIRONMENT_NAME.test(name)) return;
  throw new ConfigError([`--env: ${JSON.stringify(name)} cannot name an environment: letters, digits, '-' and '_' only, starting with a letter or digit, at most 63 characters`]);
}

/** How often to poll long-running operations: AEG_POLL_INTERVAL_MS when set, else the default. */
export function pollInterval(env: NodeJS.ProcessEnv, fallbackMs: number): number {
  const raw = env.AEG_POLL_INTERVAL_MS;
  if (raw === undefined || raw === "") return fallbackMs;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) throw new ConfigError([`AEG_POLL_INTERVAL_MS: ${JSON.stringify(raw)} is not a whole number of milliseconds between 1 and 600000`]);
  return ms;
}

/** Applies overrides to raw data, then validates. Pure: the caller does the I/O. */
export function resolveConfig(raw: Record<string, unknown>, overrides: Override[] = []): Config {
  const data = structuredClone(raw);
  const origins = new Map<string, string>();
  for (const o of overrides) {
    setPath(data, o.path, o.value);
    origins.set(formatPath(o.path), o.source);
  }
  // reportInput: tell a missing value ("required") from one of the wrong type ("must be text").
  const parsed = ConfigSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error.issues, origins));
  return parsed.data;
}

export function formatIssues(issues: z.core.$ZodIssue[], origins = new Map<string, string>()): string[] {
  const lines = issues.map((issue) => {
    const at = formatPath(issue.path as (string | number)[]);
    const origin = origins.get(at);
    const where = origin ? `${origin} (${at})` : at || "(top level)";
    return `${where}: ${issueMessage(issue)}`;
  });
  return [...new Set(lines)];
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown setting${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`;
  if (issue.code === "invalid_type" && issue.input === undefined) {
    // Under --ci nothing is asked: say every place the value can come from.
    const at = formatPath(issue.path as (string | number)[]);
    const sources = [...Object.entries(ENV_OVERRIDES).filter(([, p]) => formatPath(p) === at).map(([name]) => name), ...Object.entries(FLAG_OVERRIDES).filter(([, p]) => formatPath(p) === at).map(([flag]) => `--${flag}`)];
    return sources.length > 0 ? `required (set it in the file, or with ${sources.join(" or ")})` : "required";
  }
  return issue.message;
}


export function formatPath(p: (string | number | symbol)[]): string {
  return p.reduce<string>((acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), "");
}

function setPath(target: Record<string, unknown>, p: (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = target;
  p.slice(0, -1).forEach((seg) => {
    const next = node[seg];
    if (typeof next !== "object" || next === null) node[seg] = {};
    node = node[seg] as Record<string | number, unknown>;
  });
  node[p[p.length - 1]!] = value;
}
