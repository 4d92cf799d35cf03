// Fault injection and request accounting for tests and benchmarks (the `/_sandbox/` admin API).
import { json, type Reply, type Req } from "../http.js";

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
  private nextId = 1;
  private served: ServedRequest[] = [];
  private byMethod: Record<string, number> = {};
  private total = 0;
  private writes = 0;

  /** The fault that applies to this request (consuming one of its `times`), if any. */
  take(method: string, path: string): Fault | undefined {
    for (const f of this.faults) {
      if (f.match.method && f.match.method.toUpperCase() !== method) continue;
      if (f.match.pathRegex && !new RegExp(f.match.pathRegex, "i").test(path)) continue;
      if (f.times !== undefined) {
        f.times--;
        if (f.times <= 0) this.faults = this.faults.filter((x) => x !== f);
      }
      return f;
    }
    return undefined;
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
      const b = (req.body ?? {}) as Partial<Fault>;
      if (typeof b !== "object" || (b.status === undefined && b.delayMs === undefined && !b.reset)) {
        return json(400, { error: { code: "BadRequest", message: "A fault needs at least one of status, delayMs or reset." } });
      }
      if (b.match?.pathRegex) {
        try {
          new RegExp(b.match.pathRegex);
        } catch (e) {
          return json(400, { error: { code: "BadRequest", message: `pathRegex is not a valid regular expression: ${String(e)}` } });
        }
      }
      const f: Fault = { id: this.nextId++, match: b.match ?? {}, status: b.status, body: b.body, headers: b.headers, times: b.times, delayMs: b.delayMs, reset: b.reset };
      this.faults.push(f);
      return json(201, f);
    }
    if (p === "/_sandbox/faults" && req.method === "GET") return json(200, { value: this.faults });
    if (p === "/_sandbox/faults" && req.method === "DELETE") {
      this.faults = [];
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

/** The reply a fault produces; defaults to an ARM-shaped error body for its status. */
export function faultReply(f: Fault): Reply {
  const status = f.status!;
  const code = status === 429 ? "TooManyRequests" : status === 409 ? "Conflict" : status >= 500 ? "InternalServerError" : "InjectedFault";
  const headers: Record<string, string> = { ...(status === 429 || status === 503 ? { "Retry-After": "1" } : {}), ...(f.headers ?? {}) };
  return { status, headers, body: f.body ?? { error: { code, message: `Fault injected by the sandbox (HTTP ${status}).` } } };
}
