// Dataverse service-protection limits, kept per caller (the token's `oid`) over a sliding window:
// request count, combined execution time and concurrent requests. Beyond a limit the caller gets
// 429 with `Retry-After` and the platform's codes, so a client that ignores Retry-After keeps
// failing while one that waits gets through. The clock is injectable so tests need not sleep.
import { json, type Reply } from "../http.js";

export interface DataverseLimitOptions {
  /** Requests per window per caller; Dataverse: 6,000. */
  requestsPer5Min?: number;
  /** Combined execution time (ms) per window per caller; Dataverse: 1,200,000 (20 minutes). */
  executionMsPer5Min?: number;
  /** Requests in flight at once per caller; Dataverse: 52. */
  concurrent?: number;
  /** The sliding window; Dataverse: 300,000 ms. */
  windowMs?: number;
  /** Clock in epoch ms (tests advance a fake one instead of sleeping). */
  now?: () => number;
}

interface Usage {
  /** Start times of the counted requests still inside the window, oldest first. */
  starts: number[];
  /** Finished requests' execution times, oldest first. */
  runs: { at: number; ms: number }[];
  inFlight: number;
}

/** An admitted request: call `done` when it has been answered. */
export interface Ticket {
  done(): void;
  /** Headers Dataverse adds for debugging (remaining requests / execution ms in the window). */
  headers(): Record<string, string>;
}

export type Admission = { ok: true; ticket: Ticket } | { ok: false; reply: Reply };

export class DataverseLimits {
  readonly requests: number;
  readonly executionMs: number;
  readonly concurrent: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly usage = new Map<string, Usage>();

  constructor(o: DataverseLimitOptions = {}) {
    this.requests = o.requestsPer5Min ?? 6000;
    this.executionMs = o.executionMsPer5Min ?? 1_200_000;
    this.concurrent = o.concurrent ?? 52;
    this.windowMs = o.windowMs ?? 300_000;
    this.now = o.now ?? Date.now;
  }

  /**
   * Admits one request for `caller`. `count: false` admits without counting a request (the
   * `$batch` envelope: its inner requests are counted one by one). `holdSlot: false` skips the
   * concurrency check (inner batch requests run inside the envelope's slot).
   */
  admit(caller: string, opts: { count?: boolean; holdSlot?: boolean } = {}): Admission {
    const count = opts.count ?? true;
    const holdSlot = opts.holdSlot ?? true;
    const u = this.usageOf(caller);
    const now = this.now();
    this.prune(u, now);
    if (holdSlot && u.inFlight >= this.concurrent) {
      // Dataverse rejects over-concurrency at once; the slot frees as soon as a request ends.
      return { ok: false, reply: throttled("0x80072326", `Number of concurrent requests exceeded the limit of ${this.concurrent}.`, 1) };
    }
    if (u.starts.length >= this.requests) {
      const wait = u.starts[u.starts.length - this.requests]! + this.windowMs - now;
      return { ok: false, reply: throttled("0x80072322", `Number of requests exceeded the limit of ${this.requests} over time window of ${this.windowSeconds()} seconds.`, wait) };
    }
    const used = u.runs.reduce((s, r) => s + r.ms, 0);
    if (used >= this.executionMs) {
      const wait = u.runs[0]!.at + this.windowMs - now;
      return {
        ok: false,
        reply: throttled("0x80072321", `Combined execution time of incoming requests exceeded limit of ${this.executionMs} milliseconds over time window of ${this.windowSeconds()} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.`, wait),
      };
    }
    if (count) u.starts.push(now);
    if (holdSlot) u.inFlight++;
    let finished = false;
    const ticket: Ticket = {
      done: () => {
        if (finished) return;
        finished = true;
        if (holdSlot) u.inFlight--;
        const end = this.now();
        if (count) u.runs.push({ at: end, ms: Math.max(0, end - now) });
      },
      headers: () => {
        this.prune(u, this.now());
        const spent = u.runs.reduce((s, r) => s + r.ms, 0);
        return {
          "x-ms-ratelimit-burst-remaining-xrm-requests": String(Math.max(0, this.requests - u.starts.length)),
          "x-ms-ratelimit-time-remaining-xrm-requests": String(Math.max(0, this.executionMs - spent)),
        };
      },
    };
    return { ok: true, ticket };
  }

  /** Forgets all usage (tests; a restarted sandbox starts clean too, as limits live in memory). */
  reset(): void {
    this.usage.clear();
  }

  private windowSeconds(): number {
    return Math.round(this.windowMs / 1000);
  }

  private usageOf(caller: string): Usage {
    let u = this.usage.get(caller);
    if (!u) this.usage.set(caller, (u = { starts: [], runs: [], inFlight: 0 }));
    return u;
  }

  private prune(u: Usage, now: number): void {
    const from = now - this.windowMs;
    while (u.starts.length && u.starts[0]! <= from) u.starts.shift();
    while (u.runs.length && u.runs[0]!.at <= from) u.runs.shift();
  }
}

/** A 429 in Dataverse's error shape; Retry-After in whole seconds, at least 1. */
function throttled(code: string, message: string, waitMs: number): Reply {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return json(429, { error: { code, message } }, { "OData-Version": "4.0", "Retry-After": String(seconds) });
}
