import type { RestError } from "@azure/core-rest-pipeline";
import type { DataverseClient } from "../azure/dataverse.js";
import { statusOf } from "../azure/errors.js";
import { retryAfterMs } from "../azure/service-pipeline.js";
import { CORRELATION_KEY, DECISION_LOG_ENTITY_SET, DECISION_LOG_LOGICAL_NAME } from "../dataverse/decision-log-table.js";
import { PermissionError } from "../errors.js";
import { batchResults, upsertBatch, type PartResult } from "./batch.js";
import { bulkErrorDetails, bulkUnavailable, latestPerKey, PREFER_ERROR_DETAILS, upsertTargets, type BulkTable } from "./bulk.js";
import type { DecisionRow } from "./record.js";

export interface WriteOutcome {
  /** Rows Dataverse refused as invalid (400): retrying cannot help, so they count as poison. */
  rejected: Array<{ row: DecisionRow; message: string }>;
}

export interface WriterStats {
  /** Write requests answered (UpsertMultiple or `$batch`). */
  batches: number;
  throttled: number;
}

/** How rows go to Dataverse: the bulk message, or `$batch` where the environment lacks it. */
export type WriteMode = "UpsertMultiple" | "$batch";

export interface WriterOptions {
  /** Back-off for a 5xx or a dropped connection; doubles each time. */
  baseDelayMs: number;
  /** Attempts on a 5xx or dropped connection before giving up (a 429 never runs out). */
  maxTransientAttempts: number;
  /** Most write requests in flight; Dataverse's `x-ms-dop-hint` lowers it. Default: the hint. */
  maxParallel?: number;
  log(line: string): void;
  sleep(ms: number): Promise<void>;
}

const TABLE: BulkTable = { logicalName: DECISION_LOG_LOGICAL_NAME, entitySet: DECISION_LOG_ENTITY_SET, keyAttribute: CORRELATION_KEY.attribute };
const PERMISSION_HINT = "The sink's identity needs a Dataverse application user with Create and Write (and Read) on fsi_aegdecisionlog; see README, aeg sink.";

type BulkResult = { kind: "written"; rejected: WriteOutcome["rejected"] } | { kind: "unavailable" | "refused"; rows: DecisionRow[]; rejected: WriteOutcome["rejected"]; reason: string };

/**
 * Writes rows as upserts on the correlation-id key: one `UpsertMultiple` request per call, or
 * `$batch`es where the environment lacks the message (found out on the first request, then kept
 * for the run). A row that landed before a dropped connection is merely rewritten when resent,
 * never duplicated. A 429 waits Retry-After, and every other write of this writer waits with it
 * (they share one identity's budget); throttling slows the sink, it never drops a row.
 */
export class DecisionLogWriter {
  readonly stats: WriterStats = { batches: 0, throttled: 0 };
  private current: WriteMode = "UpsertMultiple";
  private dopHint: number | undefined;
  private resumeAt = 0;

  constructor(
    private readonly dataverse: DataverseClient,
    private readonly opts: WriterOptions,
  ) {}

  get mode(): WriteMode {
    return this.current;
  }

  /** Requests to keep in flight: Dataverse's recommendation, capped by `maxParallel`; one until it has spoken. */
  get parallelism(): number {
    const hint = this.dopHint ?? 1;
    return Math.max(1, Math.min(hint, this.opts.maxParallel ?? hint));
  }

  /** Asks for the recommended parallelism before the first write, so the first batches need not go one by one. */
  async prime(): Promise<void> {
    try {
      this.dopHint = (await this.dataverse.recommendedParallelism()) ?? this.dopHint;
    } catch (err) {
      // Not fatal: every write answer carries the hint too, and the writes report real failures.
      this.opts.log(`Dataverse did not say how many requests to send at once (${(err as Error).message}); starting with one`);
    }
  }

  async write(rows: DecisionRow[]): Promise<WriteOutcome> {
    const unique = latestPerKey(rows, TABLE.keyAttribute);
    if (this.current === "$batch") return this.writeBatched(unique);
    const bulk = await this.writeBulk(unique);
    if (bulk.kind === "written") return { rejected: bulk.rejected };
    if (bulk.kind === "unavailable") {
      if (this.current === "UpsertMultiple") this.opts.log(`UpsertMultiple is not available here (${bulk.reason}); writing through $batch for the rest of this run`);
      this.current = "$batch";
    } else {
      // A standard table rolls the whole request back on one bad row; $batch answers row by row.
      this.opts.log(`UpsertMultiple refused ${bulk.rows.length} rows and wrote none (${bulk.reason}); resending them through $batch to find the rows Dataverse refuses`);
    }
    const batched = await this.writeBatched(bulk.rows);
    return { rejected: [...bulk.rejected, ...batched.rejected] };
  }

  private async writeBulk(rows: DecisionRow[]): Promise<BulkResult> {
    const rejected: WriteOutcome["rejected"] = [];
    let remaining = rows;
    let transient = 0;
    while (remaining.length > 0) {
      await this.paced();
      try {
        const res = await this.dataverse.upsertMultiple(TABLE.entitySet, upsertTargets(TABLE, remaining), { Prefer: PREFER_ERROR_DETAILS });
        this.heard(res.headers);
        this.stats.batches++;
        return { kind: "written", rejected };
      } catch (err) {
        const rest = err as RestError;
        this.heard(rest.response?.headers);
        const status = statusOf(err);
        if (status === 429) {
          this.throttled(retryAfterMs(rest.response?.headers.get("retry-after")), `a batch of ${remaining.length}`);
          continue;
        }
        if (status === 401 || status === 403) throw new PermissionError(`Dataverse refused the sink's identity (${status}): ${rest.message}`, PERMISSION_HINT);
        if (status !== undefined && status < 500) {
          if (bulkUnavailable(status, rest.code, rest.message)) return { kind: "unavailable", rows: remaining, rejected, reason: `${status} ${rest.message}` };
          this.stats.batches++;
          // An elastic table says which records failed and keeps the others; a standard one kept none.
          const details = bulkErrorDetails(rest.response?.bodyAsText ?? undefined);
          if (!details) return { kind: "refused", rows: remaining, rejected, reason: `${status} ${rest.message}` };
          const retry: DecisionRow[] = [];
          remaining.forEach((row, i) => {
            const s = details.get(i) ?? status;
            if (s < 300) return;
            if (s === 429 || s >= 500) retry.push(row);
            else if (s === 401 || s === 403) throw new PermissionError(`Dataverse refused to write ${row.fsi_correlationid} (${s})`, PERMISSION_HINT);
            else rejected.push({ row, message: s === status ? rest.message : `${s}` });
          });
          if ([...details.values()].includes(429)) this.throttled(retryAfterMs(rest.response?.headers.get("retry-after")), `${retry.length} of ${remaining.length} rows`);
          remaining = retry;
          continue;
        }
        if (++transient >= this.opts.maxTransientAttempts) throw err;
        const wait = this.opts.baseDelayMs * 2 ** (transient - 1);
        this.opts.log(`Dataverse UpsertMultiple failed (${status ?? rest.message}); retrying ${remaining.length} rows in ${wait} ms`);
        await this.opts.sleep(wait);
      }
    }
    return { kind: "written", rejected };
  }

  private async writeBatched(rows: DecisionRow[]): Promise<WriteOutcome> {
    const rejected: WriteOutcome["rejected"] = [];
    let remaining = rows;
    let transient = 0;
    while (remaining.length > 0) {
      await this.paced();
      let results: PartResult[];
      try {
        results = await this.sendBatch(remaining);
      } catch (err) {
        const rest = err as RestError;
        this.heard(rest.response?.headers);
        const status = statusOf(err);
        if (status === 429) {
          this.throttled(retryAfterMs(rest.response?.headers.get("retry-after")), `a batch of ${remaining.length}`);
          continue;
        }
        if (status === 401 || status === 403) throw new PermissionError(`Dataverse refused the sink's identity (${status}): ${rest.message}`, PERMISSION_HINT);
        if ((status === undefined || status >= 500) && ++transient < this.opts.maxTransientAttempts) {
          const wait = this.opts.baseDelayMs * 2 ** (transient - 1);
          this.opts.log(`Dataverse batch failed (${status ?? rest.message}); retrying ${remaining.length} rows in ${wait} ms`);
          await this.opts.sleep(wait);
          continue;
        }
        throw err;
      }
      this.stats.batches++;
      const retry: DecisionRow[] = [];
      let throttledWait: number | undefined;
      let serverError = false;
      remaining.forEach((row, i) => {
        const r = results[i];
        if (r && r.status < 300) return;
        if (!r || r.status >= 500) {
          serverError = true;
          retry.push(row);
        } else if (r.status === 429) {
          throttledWait = Math.max(throttledWait ?? 0, r.retryAfterMs ?? this.opts.baseDelayMs);
          retry.push(row);
        } else if (r.status === 400) rejected.push({ row, message: r.message ?? "400 Bad Request" });
        else if (r.status === 401 || r.status === 403) throw new PermissionError(`Dataverse refused to write ${row.fsi_correlationid} (${r.status}): ${r.message ?? ""}`, "The sink's identity needs Create and Write on fsi_aegdecisionlog.");
        else throw new Error(`Dataverse answered ${r.status} to the upsert of ${row.fsi_correlationid}: ${r.message ?? ""}`);
      });
      if (throttledWait !== undefined) this.throttled(throttledWait, `${retry.length} of ${remaining.length} rows in a batch`);
      else if (serverError) {
        if (++transient >= this.opts.maxTransientAttempts) throw new Error(`Dataverse kept failing ${retry.length} upserts with 5xx`);
        await this.opts.sleep(this.opts.baseDelayMs * 2 ** (transient - 1));
      }
      remaining = retry;
    }
    return { rejected };
  }

  private async sendBatch(rows: DecisionRow[]): Promise<PartResult[]> {
    const api = `${this.dataverse.environmentUrl.replace(/\/+$/, "")}/api/data/v9.2`;
    const { boundary, body } = upsertBatch(
      api,
      rows.map((row) => ({ entitySet: TABLE.entitySet, keyAttribute: TABLE.keyAttribute, keyValue: row.fsi_correlationid, body: { ...row } })),
    );
    const res = await this.dataverse.batch(body, boundary, { Prefer: "odata.continue-on-error" });
    this.heard(res.headers);
    return batchResults(res.headers.get("content-type"), typeof res.body === "string" ? res.body : JSON.stringify(res.body ?? ""));
  }

  /** Every write of this writer waits out the latest Retry-After: one identity, one budget. */
  private throttled(waitMs: number | undefined, what: string): void {
    const wait = waitMs ?? this.opts.baseDelayMs;
    this.stats.throttled++;
    this.resumeAt = Math.max(this.resumeAt, Date.now() + wait);
    this.opts.log(`Dataverse throttled ${what} (429); waiting ${Math.ceil(wait / 1000)} s as Retry-After asks`);
  }

  private async paced(): Promise<void> {
    for (let wait = this.resumeAt - Date.now(); wait > 0; wait = this.resumeAt - Date.now()) await this.opts.sleep(wait);
  }

  /** Dataverse's recommended degree of parallelism rides on its answers. */
  private heard(headers: { get(name: string): string | undefined } | undefined): void {
    const hint = Number(headers?.get("x-ms-dop-hint"));
    if (Number.isInteger(hint) && hint > 0) this.dopHint = hint;
  }
}
