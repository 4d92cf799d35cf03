import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { TEMPLATE_FILES } from "../policy/templates.js";
import type { Config } from "./schema.js";

/**
 * Files and variables the configuration names, checked when a command starts: a missing secret
 * file must stop `setup --dry-run`, not the real run halfway through its writes. Secrets are read
 * to check their shape, never shown.
 */

/** Paths in a configuration file are relative to that file, wherever aeg runs from. */
export function withAbsolutePaths(config: Config, baseDir: string): Config {
  const abs = (p: string) => path.resolve(baseDir, p);
  const next = structuredClone(config);
  if (next.cloud.caFile) next.cloud.caFile = abs(next.cloud.caFile);
  if (next.auth.clientSecretFile) next.auth.clientSecretFile = abs(next.auth.clientSecretFile);
  if (next.telemetry.connectionString?.fromFile) next.telemetry.connectionString.fromFile = abs(next.telemetry.connectionString.fromFile);
  if (next.templatesDir) next.templatesDir = abs(next.templatesDir);
  for (const s of next.validation?.scenarios ?? []) if (s.caller?.from === "file") s.caller.path = abs(s.caller.path);
  return next;
}

/** One line per problem, naming the field and the file or variable; empty when all is well. */
export async function configFileProblems(config: Config, env: NodeJS.ProcessEnv): Promise<string[]> {
  const checks: Promise<string | undefined>[] = [];
  if (config.cloud.caFile) checks.push(pemFile("cloud.caFile", config.cloud.caFile));
  if (config.auth.clientSecretFile) checks.push(secretFile("auth.clientSecretFile", config.auth.clientSecretFile).then((r) => r.problem));
  const cs = config.telemetry.connectionString;
  if (cs?.fromFile) checks.push(connectionStringFile(cs.fromFile, config.telemetry.eventHub));
  if (cs?.fromEnv) checks.push(Promise.resolve(connectionStringVariable(cs.fromEnv, env[cs.fromEnv], config.telemetry.eventHub)));
  if (config.templatesDir) checks.push(templatesDir(config.templatesDir));
  return (await Promise.all(checks)).filter((p): p is string => p !== undefined);
}

async function readable(field: string, file: string): Promise<{ text?: string; problem?: string }> {
  try {
    const info = await stat(file);
    if (info.isDirectory()) return { problem: `${field}: ${file} is a directory, not a file` };
    return { text: await readFile(file, "utf8") };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: `${field}: ${file} ${code === "ENOENT" ? "does not exist" : code === "EACCES" ? "cannot be read (permission denied)" : `cannot be read (${code ?? (err as Error).message})`}` };
  }
}

async function secretFile(field: string, file: string): Promise<{ text?: string; problem?: string }> {
  const r = await readable(field, file);
  if (r.text !== undefined && r.text.trim() === "") return { problem: `${field}: ${file} is empty` };
  return r;
}

async function pemFile(field: string, file: string): Promise<string | undefined> {
  const r = await readable(field, file);
  if (r.problem) return r.problem;
  return r.text!.includes("-----BEGIN CERTIFICATE-----") ? undefined : `${field}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
}

async function connectionStringFile(file: string, eventHub: string): Promise<string | undefined> {
  const field = "telemetry.connectionString.fromFile";
  const r = await secretFile(field, file);
  if (r.problem) return r.problem;
  const wrong = connectionStringProblem(r.text!.trim(), eventHub);
  return wrong && `${field}: ${file} ${wrong}`;
}

function connectionStringVariable(name: string, value: string | undefined, eventHub: string): string | undefined {
  const field = "telemetry.connectionString.fromEnv";
  if (value === undefined || value.trim() === "") return `${field}: ${name} is not set`;
  const wrong = connectionStringProblem(value.trim(), eventHub);
  return wrong && `${field}: ${name} ${wrong}`;
}

/**
 * What is wrong with an Event Hubs connection string (Endpoint=sb://…;SharedAccessKeyName=…;
 * SharedAccessKey=…[;EntityPath=…]), without quoting any of it: it holds a key.
 */
function connectionStringProblem(value: string, eventHub: string): string | undefined {
  const parts = new Map<string, string>();
  for (const part of value.split(";")) {
    const at = part.indexOf("=");
    if (at > 0) parts.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
  }
  const endpoint = parts.get("endpoint");
  const hasKey = (parts.get("sharedaccesskeyname") && parts.get("sharedaccesskey")) || parts.get("sharedaccesssignature");
  if (!endpoint?.startsWith("sb://") || !hasKey) return "does not hold an Event Hubs connection string (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…)";
  const entity = parts.get("entitypath");
  if (entity && entity !== eventHub) return `is for event hub '${entity}', not telemetry.eventHub '${eventHub}'`;
  return undefined;
}

async function templatesDir(dir: string): Promise<string | undefined> {
  try {
    if (!(await stat(dir)).isDirectory()) return `templatesDir: ${dir} is not a directory`;
  } catch {
    return `templatesDir: ${dir} does not exist`;
  }
  const missing: string[] = [];
  for (const rel of TEMPLATE_FILES) {
    const r = await readable("templatesDir", path.join(dir, rel));
    if (r.problem) missing.push(rel);
  }
  return missing.length > 0 ? `templatesDir: ${dir} lacks ${missing.join(", ")}` : undefined;
}
