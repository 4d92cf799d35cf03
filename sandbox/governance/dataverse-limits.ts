// Dataverse service-protection limits, kept per caller (the token's `oid`) over a sliding window:
// request count, combined execution time and concurrent requests. Beyond a limit the caller gets
// 429 with `Retry-After` and the platform's codes, so a client that ignores Retry-After keeps
// failing while one that waits gets through. The clock is injectable so tests need not sleep.
//
// Execution time is the longer of the time a request really took and its modelled cost: a request
// that writes rows costs `perRowMs` per row. Default 10 ms: Microsoft's Web API bulk sample
// upserts 100 rows of a standard table in one UpsertMultiple in "1 seconds" (github.com/microsoft/
// PowerApps-Samples, dataverse/webapi/C#-NETx/BulkOperations/UpsertMultiple/README.md, "Sample
// output"; the SDK sample's CreateMultiple shows the same 100 rows in 1 s). So one bulk request is
// one request but its execution time grows with its rows, which is what makes bulk writes hit the
// execution-time limit rather than the request count (learn.microsoft.com/power-apps/developer/
// data-platform/bulk-operations, "How are API limits applied?").
import { setTimeout as sleep } from "node:timers/promises";
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
  /** Modelled execution time of one row written (ms); default 10 (see above). */
  perRowMs?: number;
  /** Answer a write only once its modelled execution time has passed (benchmarks); default false. */
  realTime?: boolean;
  /** `x-ms-dop-hint` on every answer, the degree of parallelism Dataverse recommends; default 4. */
  dopHint?: number;
}

/** What service protection counted since the last reset, for `GET {dataverse}/_sandbox/requests`. */
export interface RequestCounts {
  /** Requests counted against the request limit (a bulk request is one; each request inside a `$batch` is one, its envelope none). */
  total: number;
  /** Execution time charged, real or modelled, whichever is longer (ms). */
  executionMs: number;
  /** Rows written by counted requests that have been answered (bulk targets, batch parts, single writes). */
  rows: number;
  /** 429s answered because a limit was reached. */
  throttled: number;
  /** Most requests one caller had in flight at once. */
  peakConcurrent: number;
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
  /** Headers Dataverse adds: remaining requests / execution ms in the window, and `x-ms-dop-hint`. */
  headers(): Record<string, string>;
  /** The request wrote `n` rows: charges their modelled time; with `realTime`, resolves once it has passed. */
  rows(n: number): Promise<void>;
}

export type Admission = { ok: true; ticket: Ticket } | { ok: false; reply: Reply };

export class DataverseLimits {
  readonly requests: number;
  readonly executionMs: number;
  readonly concurrent: number;
  readonly windowMs: number;
  readonly perRowMs: number;
  readonly realTime: boolean;
  readonly dopHint: number;
  private readonly now: () => number;
  private readonly usage = new Map<string, Usage>();
  private tally: RequestCounts = emptyCounts();

  constructor(o: DataverseLimitOptions = {}) {
    this.requests = o.requestsPer5Min ?? 6000;
    this.executionMs = o.executionMsPer5Min ?? 1_200_000;
    this.concurrent = o.concurrent ?? 52;
    this.windowMs = o.windowMs ?? 300_000;
    this.now = o.now ?? Date.now;
    this.perRowMs = o.perRowMs ?? 10;
    this.realTime = o.realTime ?? false;
    this.dopHint = o.dopHint ?? 4;
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
      return this.refuse(throttled("0x80072326", `Number of concurrent requests exceeded the limit of ${this.concurrent}.`, 1));
    }
    if (u.starts.length >= this.requests) {
      const wait = u.starts[u.starts.length - this.requests]! + this.windowMs - now;
      return this.refuse(throttled("0x80072322", `Number of requests exceeded the limit of ${this.requests} over time window of ${this.windowSeconds()} seconds.`, wait));
    }
    const used = u.runs.reduce((s, r) => s + r.ms, 0);
    if (used >= this.executionMs) {
      // Retry-After: until enough of the oldest runs leave the window to bring the sum under the limit.
      let over = used - this.executionMs;
      const freeing = u.runs.find((r) => (over -= r.ms) < 0) ?? u.runs[u.runs.length - 1]!;
      const wait = freeing.at + this.windowMs - now;
      return this.refuse(
        throttled("0x80072321", `Combined execution time of incoming requests exceeded limit of ${this.executionMs} milliseconds over time window of ${this.windowSeconds()} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.`, wait),
      );
    }
    if (count) {
      u.starts.push(now);
      this.tally.total++;
    }
    if (holdSlot) {
      u.inFlight++;
      this.tally.peakConcurrent = Math.max(this.tally.peakConcurrent, u.inFlight);
    }
    let finished = false;
    let charged = 0;
    let written = 0;
    const startedAt = performance.now();
    const ticket: Ticket = {
      done: () => {
        if (finished) return;
        finished = true;
        if (holdSlot) u.inFlight--;
        const end = this.now();
        if (!count) return;
        const ms = Math.max(0, end - now, charged);
        u.runs.push({ at: end, ms });
        this.tally.executionMs += ms;
        this.tally.rows += written;
      },
      rows: async (n) => {
        charged += n * this.perRowMs;
        written += n;
        const left = charged - (performance.now() - startedAt);
        if (this.realTime && left > 0) await sleep(left);
      },
      headers: () => {
        this.prune(u, this.now());
        const spent = u.runs.reduce((s, r) => s + r.ms, 0);
        return {
          "x-ms-ratelimit-burst-remaining-xrm-requests": String(Math.max(0, this.requests - u.starts.length)),
          "x-ms-ratelimit-time-remaining-xrm-requests": String(Math.max(0, this.executionMs - spent)),
          "x-ms-dop-hint": String(this.dopHint),
        };
      },
    };
    return { ok: true, ticket };
  }

  /** Forgets all usage (tests; a restarted sandbox starts clean too, as limits live in memory). */
  reset(): void {
    this.usage.clear();
  }

  /** What was counted since the last `resetCounts` (the sliding windows are not touched). */
  counts(): RequestCounts {
    return { ...this.tally };
  }

  resetCounts(): void {
    this.tally = emptyCounts();
  }

  private refuse(reply: Reply): Admission {
    this.tally.throttled++;
    return { ok: false, reply };
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

function emptyCounts(): RequestCounts {
  return { total: 0, executionMs: 0, rows: 0, throttled: 0, peakConcurrent: 0 };
}

/** A 429 in Dataverse's error shape; Retry-After in whole seconds, at least 1. */
function throttled(code: string, message: string, waitMs: number): Reply {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return json(429, { error: { code, message } }, { "OData-Version": "4.0", "Retry-After": String(seconds) });
}
