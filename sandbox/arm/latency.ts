// How long the sandbox's ARM takes to answer, and how long its long-running operations run, so a
// benchmark shows what a user in Azure waits for. Delays are timers (never a busy wait): requests
// that arrive together overlap in time as they do in Azure.
import fs from "node:fs";

/** The kinds of write the model can time apart; anything else is `other`. */
export const WRITE_KINDS = [
  "resourceGroup",
  "apimService",
  "apimNamedValue",
  "apimPolicyFragment",
  "apimApi",
  "apimApiOperation",
  "apimApiPolicy",
  "apimApiOperationPolicy",
  "apimLogger",
  "eventHubNamespace",
  "eventHub",
  "roleAssignment",
  "other",
] as const;
export type WriteKind = (typeof WRITE_KINDS)[number];

export interface WriteTiming {
  /** Time before the write is answered. */
  ms?: number;
  /** For a write the sandbox answers as a long-running operation: how long it runs after the answer. */
  lroMs?: number;
}

export interface LatencyModel {
  /** Every read: GET, HEAD, list POSTs, and the polls of long-running operations. */
  readMs: number;
  /** Writes whose kind has no `ms` of its own. */
  writeMs: number;
  writes: Partial<Record<WriteKind, WriteTiming>>;
  /**
   * How long Azure takes to create an APIM instance. Reported by benchmarks only: the sandbox
   * creates instances in `apimActivationMs`, so a run does not wait most of an hour.
   */
  apimServiceCreateMs?: number;
}

export const NO_LATENCY: LatencyModel = { readMs: 0, writeMs: 0, writes: {} };

/**
 * Azure as measured or reported in public; where nothing public gives a figure, the comment says
 * it is an estimate and what bounds it. Scale it with `scaleLatency` for long benchmarks.
 */
export const AZURE_LATENCY: LatencyModel = {
  // Estimate. Azure's round trips inside a geography are 3-72 ms (learn.microsoft.com/azure/networking/azure-network-latency)
  // and ARM adds its routing and the provider's read; issue 13 measured doctor at about 50 ms a call.
  readMs: 80,
  // A named value PUT was answered 201 after 0.45 s (log in Azure/apiops#722: "Duration 00:00:00.4521093").
  writeMs: 450,
  writes: {
    // Estimate: a resource group PUT is synchronous and small; taken as the write above.
    resourceGroup: { ms: 450 },
    // Answered with 201 and Azure-AsyncOperation; the LRO is "several seconds" (issue 13). No public
    // timing found: APIOps-CLI polls such operations every 2 s, 30 times at most (Azure/apiops-cli src/clients/apim-client.ts).
    apimNamedValue: { ms: 450, lroMs: 5_000 },
    apimPolicyFragment: { ms: 450, lroMs: 5_000 },
    // An API PUT that imported a specification took about 63 s (log in Azure/apiops#141, 14:48:42 to
    // 14:49:45); aeg sends no specification, so an estimate of 8 s.
    apimApi: { ms: 450, lroMs: 8_000 },
    // Synchronous in the REST specification (200/201); timed as the PUT in Azure/apiops#722.
    apimApiOperation: { ms: 450 },
    apimApiPolicy: { ms: 450 },
    apimApiOperationPolicy: { ms: 450 },
    apimLogger: { ms: 450 },
    // A Standard namespace was still being created after 1 min 10 s (log in turbot/steampipe-plugin-azure#201).
    eventHubNamespace: { ms: 450, lroMs: 90_000 },
    eventHub: { ms: 450 },
    // Estimate: synchronous PUT; replication of a new identity is retried apart (PrincipalNotFound,
    // hashicorp/terraform-provider-azurerm#2204).
    roleAssignment: { ms: 1_000 },
  },
  // "30 to 40 minutes or more", users reporting 60-90 (MicrosoftDocs/azure-docs#124999).
  apimServiceCreateMs: 45 * 60_000,
};

/** Every duration times `factor` (a 500-agent benchmark at 1/10 of Azure's pace, say). */
export function scaleLatency(model: LatencyModel, factor: number): LatencyModel {
  const scale = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms * factor));
  const writes = Object.fromEntries(Object.entries(model.writes).map(([kind, t]) => [kind, { ...(t.ms !== undefined ? { ms: scale(t.ms) } : {}), ...(t.lroMs !== undefined ? { lroMs: scale(t.lroMs) } : {}) }]));
  return { readMs: scale(model.readMs)!, writeMs: scale(model.writeMs)!, writes, ...(model.apimServiceCreateMs !== undefined ? { apimServiceCreateMs: scale(model.apimServiceCreateMs) } : {}) };
}

/** What `startSandbox({ latency })` takes: a profile name, a model, or the path of a JSON file holding one. */
export type LatencyOption = "azure" | "none" | LatencyModel | { file: string };

export class LatencyModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LatencyModelError";
  }
}

export function latencyModel(option: LatencyOption | undefined): LatencyModel {
  if (option === undefined || option === "none") return NO_LATENCY;
  if (option === "azure") return AZURE_LATENCY;
  if ("file" in option) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(option.file, "utf8"));
    } catch (err) {
      throw new LatencyModelError(`${option.file}: ${(err as Error).message}`);
    }
    return checkedModel(raw, option.file);
  }
  return checkedModel(option, "latency");
}

/** Checks a model read from JSON; missing numbers default to 0. Names the first field at fault. */
export function checkedModel(raw: unknown, where: string): LatencyModel {
  const fail = (field: string, why: string): never => {
    throw new LatencyModelError(`${where}: ${field} ${why}`);
  };
  const ms = (v: unknown, field: string): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) fail(field, "must be a number of milliseconds, 0 or more");
    return v as number;
  };
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) fail("the model", "must be a JSON object");
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!["readMs", "writeMs", "writes", "apimServiceCreateMs"].includes(k)) fail(k, "is not a field of a latency model (readMs, writeMs, writes, apimServiceCreateMs)");
  const writes: Partial<Record<WriteKind, WriteTiming>> = {};
  const w = o["writes"] ?? {};
  if (typeof w !== "object" || w === null || Array.isArray(w)) fail("writes", "must be an object keyed by kind of write");
  for (const [kind, t] of Object.entries(w as Record<string, unknown>)) {
    if (!(WRITE_KINDS as readonly string[]).includes(kind)) fail(`writes.${kind}`, `is not a kind of write (${WRITE_KINDS.join(", ")})`);
    if (!t || typeof t !== "object" || Array.isArray(t)) fail(`writes.${kind}`, "must be an object with ms and/or lroMs");
    const timing = t as Record<string, unknown>;
    for (const k of Object.keys(timing)) if (k !== "ms" && k !== "lroMs") fail(`writes.${kind}.${k}`, "is not ms or lroMs");
    const m = ms(timing["ms"], `writes.${kind}.ms`);
    const l = ms(timing["lroMs"], `writes.${kind}.lroMs`);
    writes[kind as WriteKind] = { ...(m !== undefined ? { ms: m } : {}), ...(l !== undefined ? { lroMs: l } : {}) };
  }
  const create = ms(o["apimServiceCreateMs"], "apimServiceCreateMs");
  return { readMs: ms(o["readMs"], "readMs") ?? 0, writeMs: ms(o["writeMs"], "writeMs") ?? 0, writes, ...(create !== undefined ? { apimServiceCreateMs: create } : {}) };
}

const READ_METHODS = new Set(["GET", "HEAD"]);

/** A request that changes state (list POSTs only read). */
export function isWrite(method: string, path: string): boolean {
  if (READ_METHODS.has(method)) return false;
  return !(method === "POST" && /\/list[A-Za-z]*$/.test(path));
}

/** Which kind of write a path is (case-insensitive, as ARM paths are). */
export function writeKind(path: string): WriteKind {
  const p = path.toLowerCase();
  const svc = /\/providers\/microsoft\.apimanagement\/service\/[^/]+/.exec(p);
  if (svc) {
    const rest = p.slice(svc.index + svc[0].length);
    if (rest === "") return "apimService";
    if (/^\/apis\/[^/]+\/operations\/[^/]+\/policies\//.test(rest)) return "apimApiOperationPolicy";
    if (/^\/apis\/[^/]+\/operations\/[^/]+$/.test(rest)) return "apimApiOperation";
    if (/^\/apis\/[^/]+\/policies\//.test(rest)) return "apimApiPolicy";
    if (/^\/apis\/[^/]+$/.test(rest)) return "apimApi";
    if (rest.startsWith("/namedvalues/")) return "apimNamedValue";
    if (rest.startsWith("/policyfragments/")) return "apimPolicyFragment";
    if (rest.startsWith("/loggers/")) return "apimLogger";
    return "other";
  }
  if (/\/providers\/microsoft\.eventhub\/namespaces\/[^/]+\/eventhubs\/[^/]+$/.test(p)) return "eventHub";
  if (/\/providers\/microsoft\.eventhub\/namespaces\/[^/]+$/.test(p)) return "eventHubNamespace";
  if (/\/providers\/microsoft\.authorization\/roleassignments\/[^/]+$/.test(p)) return "roleAssignment";
  if (/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+$/.test(p)) return "resourceGroup";
  return "other";
}

/** Time before a request is answered. */
export function answerDelayMs(model: LatencyModel, method: string, path: string): number {
  if (!isWrite(method, path)) return model.readMs;
  return model.writes[writeKind(path)]?.ms ?? model.writeMs;
}

/** How long a long-running operation started by this request runs after its answer. */
export function operationMs(model: LatencyModel, method: string, path: string): number {
  return model.writes[writeKind(path)]?.lroMs ?? 0;
}
