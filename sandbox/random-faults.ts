// Faults at random: a rule fails a share of the requests it matches, chosen by a seeded PRNG so a
// failing scenario replays exactly from its seed. Shared by the ARM listener's per-request faults
// and the Dataverse and Graph listeners' faults.

/** What one faulted request gets: an HTTP error status, a dropped connection, or a delay first. */
export interface FaultOutcome {
  status?: number;
  reset?: boolean;
  delayMs?: number;
}

export interface RandomFaultSpec {
  /** Share of matching requests that fail, 0 to 1. */
  probability: number;
  /** Any 32-bit integer; the same seed and requests give the same faults. */
  seed: number;
  /** The outcomes a fired fault picks from, equally likely (one of status/reset when absent). */
  mix: FaultOutcome[];
}

/** mulberry32: a tiny 32-bit PRNG, plenty for picking faults (not for anything secret). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over a string's UTF-16 code units: folds a request's identity into a PRNG seed. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Decides, request by request, whether a random fault fires and which outcome it takes. The
 * decision for the k-th request with a given method and path depends only on (seed, method, path,
 * k), not on a single stream shared by all paths: aeg runs steps concurrently, so the order in which
 * different paths arrive varies between runs, and a shared stream would make the faults depend on
 * scheduling. Retrying the same request is its k+1-th occurrence, so it gets a fresh draw.
 */
export class RandomFaults {
  private readonly seen = new Map<string, number>();

  constructor(readonly spec: RandomFaultSpec) {}

  draw(method: string, path: string): FaultOutcome | undefined {
    const key = `${method.toUpperCase()} ${path.toLowerCase()}`;
    const k = this.seen.get(key) ?? 0;
    this.seen.set(key, k + 1);
    const next = mulberry32(fnv1a(`${this.spec.seed >>> 0}|${key}|${k}`));
    if (next() >= this.spec.probability) return undefined;
    const pick = this.spec.mix[Math.floor(next() * this.spec.mix.length)]!;
    return { ...pick };
  }
}

/**
 * Reads the random part of a fault body: `probability` and `seed`, with either a `mix` of outcomes
 * or the body's own `status`/`reset`. Undefined when the body has no `probability` (not a random
 * fault); a string when it is malformed (the 400's message).
 */
export function parseRandomSpec(body: Record<string, unknown>): RandomFaultSpec | string | undefined {
  if (body["probability"] === undefined) return undefined;
  const p = body["probability"];
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) return "probability must be a number from 0 to 1.";
  const seed = body["seed"];
  if (typeof seed !== "number" || !Number.isInteger(seed)) return "a random fault needs an integer seed.";
  const raw = body["mix"] ?? [{ status: body["status"], reset: body["reset"], delayMs: body["delayMs"] }];
  if (!Array.isArray(raw) || raw.length === 0) return "mix must be a non-empty array of {status} or {reset: true}.";
  const mix: FaultOutcome[] = [];
  for (const item of raw as Array<Record<string, unknown>>) {
    const outcome = parseOutcome(item);
    if (typeof outcome === "string") return outcome;
    mix.push(outcome);
  }
  return { probability: p, seed, mix };
}

function parseOutcome(item: Record<string, unknown>): FaultOutcome | string {
  if (typeof item !== "object" || item === null) return "each mix entry must be an object.";
  const { status, reset, delayMs } = item;
  if (status !== undefined && (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599)) return "status must be an HTTP error status (400-599).";
  if (reset !== undefined && typeof reset !== "boolean") return "reset must be true or false.";
  if (delayMs !== undefined && (typeof delayMs !== "number" || !(delayMs >= 0))) return "delayMs must be a number of milliseconds, >= 0.";
  if (status === undefined && reset !== true) return "a random fault needs a status or reset: true (in the body or in each mix entry).";
  return { ...(status !== undefined ? { status } : {}), ...(reset ? { reset: true } : {}), ...(delayMs !== undefined ? { delayMs } : {}) };
}

/** `match` as the fault APIs take it: method and a case-insensitive path regex, both optional. */
export interface RequestClass {
  method?: string;
  pathRegex?: string;
}

/** The request-class part of a fault body; a string when the regex does not compile. */
export function parseMatch(body: Record<string, unknown>): RequestClass | string {
  const m = (body["match"] ?? {}) as RequestClass;
  if (typeof m !== "object" || m === null) return "match must be {method?, pathRegex?}.";
  if (m.method !== undefined && typeof m.method !== "string") return "match.method must be a string.";
  if (m.pathRegex !== undefined) {
    if (typeof m.pathRegex !== "string") return "match.pathRegex must be a string.";
    try {
      new RegExp(m.pathRegex);
    } catch (e) {
      return `pathRegex is not a valid regular expression: ${String(e)}`;
    }
  }
  return { ...(m.method ? { method: m.method } : {}), ...(m.pathRegex ? { pathRegex: m.pathRegex } : {}) };
}

export function matches(m: RequestClass, method: string, path: string): boolean {
  if (m.method && m.method.toUpperCase() !== method.toUpperCase()) return false;
  if (m.pathRegex && !new RegExp(m.pathRegex, "i").test(path)) return false;
  return true;
}
