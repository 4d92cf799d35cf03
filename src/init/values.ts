import { formatPath, type Override } from "../config/load.js";
import { ConfigError } from "../errors.js";
import { defaultNamespace, INIT_SOURCES, type InitSource } from "./fields.js";

/**
 * The values given ahead of any question: flags first, then AEG_* variables. Each carries its
 * source, so a bad one is reported as `--flag (field.path): problem`.
 */
export function givenValues(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Override[] {
  const overrides: Override[] = [];
  const problems: string[] = [];
  for (const source of INIT_SOURCES) {
    const fromFlag = flags[source.flag];
    const given = fromFlag !== undefined && !(Array.isArray(fromFlag) && fromFlag.length === 0) ? { raw: fromFlag, from: `--${source.flag}` } : env[source.env] ? { raw: env[source.env], from: source.env } : undefined;
    if (!given) continue;
    try {
      overrides.push({ path: source.path, value: parse(source, given.raw), source: given.from });
    } catch (err) {
      problems.push(`${given.from}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return overrides;
}

function parse(source: InitSource, raw: unknown): unknown {
  if (!source.kind) return String(raw).trim();
  const items = (Array.isArray(raw) ? raw.map(String) : String(raw).split(",")).map((s) => s.trim()).filter(Boolean);
  if (source.kind === "list") return items;
  return items.map((item) => {
    const m = /^([^=]+)=(.+)$/.exec(item);
    if (!m) throw new Error(`'${item}' is not id=audienceGroupId`);
    return { id: m[1]!.trim(), audienceGroupId: m[2]!.trim() };
  });
}

/** Under --ci nothing is asked: one line per required value that came from nowhere. */
export function missingUnderCi(defaults: Record<string, unknown>, given: Override[]): string[] {
  const have = new Set(given.map((o) => formatPath(o.path)));
  return INIT_SOURCES.filter((s) => s.required && !have.has(formatPath(s.path)) && valueAt(defaults, s.path) === undefined).map((s) => `--${s.flag} (or ${s.env}): required under --ci (${formatPath(s.path)})`);
}

/** Defaults with the given values applied, and the namespace named after the instance when unset. */
export function withGiven(defaults: Record<string, unknown>, given: Override[]): Record<string, unknown> {
  const data = structuredClone(defaults);
  for (const o of given) setAt(data, o.path as string[], o.value);
  const name = valueAt(data, ["apim", "name"]);
  if (valueAt(data, ["telemetry", "namespace"]) === undefined && typeof name === "string") setAt(data, ["telemetry", "namespace"], defaultNamespace(name));
  return data;
}

export function valueAt(data: Record<string, unknown>, path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node && typeof node === "object" ? (node as Record<string | number, unknown>)[key] : undefined), data);
}

export function setAt(data: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node = data as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key] as Record<string | number, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
