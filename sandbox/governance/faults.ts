// Listener-wide fault modes for the Dataverse and Graph stand-ins, switched on demand through
// `POST /_sandbox/faults` so tests can drive the gateway's failure paths (store unreachable, slow
// past the send-request timeout, 5xx, throttled). Unlike ARM's per-request faults these are modes:
// they stay until `ok` clears them, because a gateway test makes many reads per scenario.
// Random faults are per request class instead (method + path regex, as ARM's): a body with
// `probability` and `seed` adds one, so a test can make 30 % of setup's writes fail transiently.
import { setTimeout as sleep } from "node:timers/promises";
import { json, type Reply, type Req, type Router } from "../http.js";
import { matches, parseMatch, parseRandomSpec, RandomFaults, type FaultOutcome, type RequestClass, type RandomFaultSpec } from "../random-faults.js";

export type FaultMode = "ok" | "down" | "slow" | "error" | "throttle";

export interface FaultState {
  mode: FaultMode;
  delayMs?: number;
  status?: number;
  retryAfterSeconds?: number;
}

const MODES: FaultMode[] = ["ok", "down", "slow", "error", "throttle"];

/** Error bodies in the dialect of the service being faked. */
export interface FaultBodies {
  error(status: number): Reply;
  throttle(retryAfterSeconds: number): Reply;
}

/** A random fault on one request class, as listed by `GET /_sandbox/faults`. */
export interface RandomRule extends RandomFaultSpec {
  id: number;
  match: RequestClass;
  /** Retry-After on a 429 it answers; defaults to the sandbox's `retryAfterSeconds`. */
  retryAfterSeconds?: number;
}

/** Data requests a listener served since the last reset (faulted ones included). */
export interface ListenerRequests {
  total: number;
  writes: number;
  faulted: number;
  byMethod: Record<string, number>;
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ListenerFaults {
  state: FaultState = { mode: "ok" };
  /** Retry-After (seconds) of a random 429 whose rule names none: the sandbox's option. */
  defaultRetryAfterSeconds = 1;
  private rules: Array<{ rule: RandomRule; draw: RandomFaults }> = [];
  private nextId = 1;
  private requests: ListenerRequests = { total: 0, writes: 0, faulted: 0, byMethod: {} };

  constructor(private readonly bodies: FaultBodies) {}

  /** `POST /_sandbox/faults` (a mode, or a random rule), `GET` (both) and `DELETE` (clears all). */
  admin = (req: Req): Reply => {
    if (req.method === "GET") return json(200, this.rules.length ? { ...this.state, rules: this.rules.map((r) => r.rule) } : this.state);
    if (req.method === "DELETE") {
      this.clear();
      return { status: 204 };
    }
    const raw = req.body as Record<string, unknown> | undefined;
    if (raw && typeof raw === "object" && raw["probability"] !== undefined) return this.addRule(raw);
    const b = req.body as Partial<FaultState> | undefined;
    if (!b || typeof b !== "object" || !MODES.includes(b.mode as FaultMode)) {
      return json(400, { error: { code: "BadRequest", message: `Body must be {"mode": one of ${MODES.join(", ")}, "delayMs"?, "status"?, "retryAfterSeconds"?}.` } });
    }
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
    if (b.mode === "slow" && num(b.delayMs) === undefined) return json(400, { error: { code: "BadRequest", message: "mode slow needs delayMs (milliseconds, >= 0)." } });
    if (b.status !== undefined && (typeof b.status !== "number" || b.status < 400 || b.status > 599)) {
      return json(400, { error: { code: "BadRequest", message: "status must be an HTTP error status (400-599)." } });
    }
    // `ok` means no faults at all: it clears the random rules too.
    if (b.mode === "ok") this.clear();
    else this.state = { mode: b.mode as FaultMode, delayMs: num(b.delayMs), status: b.status, retryAfterSeconds: num(b.retryAfterSeconds) };
    return json(200, this.state);
  };

  /** `GET /_sandbox/served`: what this listener served, so tests can act at the N-th write. */
  counts = (): Reply => json(200, this.requests);

  /** `POST /_sandbox/served/reset`. */
  resetCounts = (): Reply => {
    this.requests = { total: 0, writes: 0, faulted: 0, byMethod: {} };
    return { status: 204 };
  };

  private clear(): void {
    this.state = { mode: "ok" };
    this.rules = [];
  }

  private addRule(body: Record<string, unknown>): Reply {
    const bad = (message: string) => json(400, { error: { code: "BadRequest", message } });
    const match = parseMatch(body);
    if (typeof match === "string") return bad(match);
    const spec = parseRandomSpec(body);
    if (typeof spec === "string") return bad(spec);
    const ra = body["retryAfterSeconds"];
    if (ra !== undefined && !(typeof ra === "number" && ra >= 0)) return bad("retryAfterSeconds must be a number >= 0.");
    const rule: RandomRule = { id: this.nextId++, match, ...spec!, ...(ra !== undefined ? { retryAfterSeconds: ra as number } : {}) };
    this.rules.push({ rule, draw: new RandomFaults(spec!) });
    return json(201, rule);
  }

  /**
   * Applies the faults to a data request: a reply to send instead (or a connection reset), or
   * undefined to serve normally. The mode comes first (`slow` waits, then serves normally); then
   * the first random rule that matches the request and fires.
   */
  async apply(req: Pick<Req, "method" | "path">): Promise<Reply | undefined> {
    const reply = await this.decide(req);
    this.requests.total++;
    if (WRITES.has(req.method)) this.requests.writes++;
    this.requests.byMethod[req.method] = (this.requests.byMethod[req.method] ?? 0) + 1;
    if (reply) this.requests.faulted++;
    return reply;
  }

  private async decide(req: Pick<Req, "method" | "path">): Promise<Reply | undefined> {
    const moded = await this.applyMode();
    if (moded) return moded;
    for (const { rule, draw } of this.rules) {
      if (!matches(rule.match, req.method, req.path)) continue;
      const outcome = draw.draw(req.method, req.path);
      if (outcome) return this.outcomeReply(outcome, rule.retryAfterSeconds ?? this.defaultRetryAfterSeconds);
    }
    return undefined;
  }

  private async outcomeReply(o: FaultOutcome, retryAfterSeconds: number): Promise<Reply> {
    if (o.delayMs) await sleep(o.delayMs);
    if (o.reset) return { status: 0, reset: true };
    return o.status === 429 ? this.bodies.throttle(retryAfterSeconds) : this.bodies.error(o.status!);
  }

  private async applyMode(): Promise<Reply | undefined> {
    const s = this.state;
    switch (s.mode) {
      case "down":
        return { status: 0, reset: true };
      case "slow":
        await sleep(s.delayMs ?? 0);
        return undefined;
      case "error":
        return this.bodies.error(s.status ?? 503);
      case "throttle": {
        const reply = this.bodies.throttle(s.retryAfterSeconds ?? 1);
        if (s.status) reply.status = s.status;
        return reply;
      }
      default:
        return undefined;
    }
  }
}

/** The admin routes of a listener's faults and request counts (no auth, like ARM's). */
export function registerFaultAdmin(router: Router<unknown>, faults: ListenerFaults): void {
  router.add(["GET", "POST", "DELETE"], "/_sandbox/faults", faults.admin);
  router.add("GET", "/_sandbox/served", faults.counts);
  router.add("POST", "/_sandbox/served/reset", faults.resetCounts);
}
