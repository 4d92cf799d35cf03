// Fault injection and request accounting for tests and benchmarks (the `/_sandbox/` admin API).
import { json, type Reply, type Req } from "../http.js";
import { matches, parseMatch, parseRandomSpec, RandomFaults, type FaultOutcome } from "../random-faults.js";

export interface Fault {
  id: number;
  match: { method?: string; pathRegex?: string };
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many matching requests it applies to; unlimited when absent. */
  times?: number;
  delayMs?: number;
  /** Destroy the connection instead of answering. */
  reset?: boolean;
  /** Random: the share of matching requests that fail (0-1), drawn from `seed` (see random-faults.ts). */
  probability?: number;
  seed?: number;
  /** Random: the outcomes a fired fault picks from; defaults to this fault's own status/reset. */
  mix?: FaultOutcome[];
  /** Random: Retry-After on a 429; defaults to the sandbox's `retryAfterSeconds` option. */
  retryAfterSeconds?: number;
}

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
}

/** POSTs that only read (list secrets/values/references): not writes for "zero writes" checks. */
const isReadOnlyPost = (path: string) => /\/list[A-Za-z]*$/.test(path);

export class FaultsAndCounters {
  private faults: Fault[] = [];
  /** The PRNG state of each random fault, by id (kept off the fault so GET lists plain data). */
  private random = new Map<number, RandomFaults>();
  private nextId = 1;
  private served: ServedRequest[] = [];
  private byMethod: Record<string, number> = {};
  private total = 0;
  private writes = 0;

  /** `defaultRetryAfter`: the sandbox's Retry-After (seconds) for random 429s that name none. */
  constructor(private readonly defaultRetryAfter: () => number = () => 1) {}

  /**
   * The fault that applies to this request (consuming one of its `times`), if any. A random fault
   * that does not fire for this request lets the next fault have its turn; one that fires answers
   * with the outcome it drew.
   */
  take(method: string, path: string): Fault | undefined {
    for (const f of this.faults) {
      if (!matches(f.match, method, path)) continue;
      let applied: Fault = f;
      const random = this.random.get(f.id);
      if (random) {
        const outcome = random.draw(method, path);
        if (!outcome) continue;
        applied = { ...f, status: outcome.status, reset: outcome.reset, delayMs: outcome.delayMs, retryAfterSeconds: f.retryAfterSeconds ?? this.defaultRetryAfter() };
      }
      if (f.times !== undefined) {
        f.times--;
        if (f.times <= 0) this.drop(f);
      }
      return applied;
    }
    return undefined;
  }

  private drop(f: Fault): void {
    this.faults = this.faults.filter((x) => x !== f);
    this.random.delete(f.id);
  }

  count(method: string, path: string, status: number): void {
    this.total++;
    this.byMethod[method] = (this.byMethod[method] ?? 0) + 1;
    if (["PUT", "PATCH", "DELETE"].includes(method) || (method === "POST" && !isReadOnlyPost(path))) this.writes++;
    this.served.push({ method, path, status });
    if (this.served.length > 1000) this.served.shift();
  }

  /** Handles `/_sandbox/...`; undefined when the path is not an admin path. */
  admin(req: Req): Reply | undefined {
    const p = req.path.toLowerCase();
    if (p === "/_sandbox/faults" && req.method === "POST") {
      const bad = (message: string) => json(400, { error: { code: "BadRequest", message } });
      const b = (req.body ?? {}) as Partial<Fault>;
      if (typeof b !== "object" || (b.status === undefined && b.delayMs === undefined && !b.reset && b.mix === undefined)) {
        return bad("A fault needs at least one of status, delayMs, reset or (with probability and seed) mix.");
      }
      const match = parseMatch(b as Record<string, unknown>);
      if (typeof match === "string") return bad(match);
      const random = parseRandomSpec(b as Record<string, unknown>);
      if (typeof random === "string") return bad(random);
      if (b.mix !== undefined && !random) return bad("mix needs probability and seed.");
      if (b.retryAfterSeconds !== undefined && !(typeof b.retryAfterSeconds === "number" && b.retryAfterSeconds >= 0)) return bad("retryAfterSeconds must be a number >= 0.");
      const f: Fault = { id: this.nextId++, match, status: b.status, body: b.body, headers: b.headers, times: b.times, delayMs: b.delayMs, reset: b.reset };
      if (random) {
        Object.assign(f, { probability: random.probability, seed: random.seed, mix: random.mix, retryAfterSeconds: b.retryAfterSeconds });
        this.random.set(f.id, new RandomFaults(random));
      }
      this.faults.push(f);
      return json(201, f);
    }
    if (p === "/_sandbox/faults" && req.method === "GET") return json(200, { value: this.faults });
    if (p === "/_sandbox/faults" && req.method === "DELETE") {
      this.faults = [];
      this.random.clear();
      return { status: 204 };
    }
    if (p === "/_sandbox/requests" && req.method === "GET") {
      return json(200, { total: this.total, writes: this.writes, byMethod: this.byMethod, recent: this.served });
    }
    if (p === "/_sandbox/requests/reset" && req.method === "POST") {
      this.served = [];
      this.byMethod = {};
      this.total = 0;
      this.writes = 0;
      return { status: 204 };
    }
    return json(404, { error: { code: "NotFound", message: `Unknown sandbox admin endpoint ${req.method} ${req.path}.` } });
  }
}

/**
 * The reply a fault produces; defaults to an ARM-shaped error body for its status. A fixed fault's
 * 429 and 503 say Retry-After: 1; a random fault's 429 says its `retryAfterSeconds`, and its 503
 * none, so the client's own back-off for a bare 5xx is exercised too.
 */
export function faultReply(f: Fault): Reply {
  const status = f.status!;
  const code = status === 429 ? "TooManyRequests" : status === 409 ? "Conflict" : status >= 500 ? "InternalServerError" : "InjectedFault";
  const retryAfter = f.probability === undefined ? (status === 429 || status === 503 ? "1" : undefined) : status === 429 ? String(f.retryAfterSeconds ?? 1) : undefined;
  const headers: Record<string, string> = { ...(retryAfter !== undefined ? { "Retry-After": retryAfter } : {}), ...(f.headers ?? {}) };
  return { status, headers, body: f.body ?? { error: { code, message: `Fault injected by the sandbox (HTTP ${status}).` } } };
}
