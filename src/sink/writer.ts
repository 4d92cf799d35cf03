import type { DataverseClient } from "../azure/dataverse.js";
import { statusOf } from "../azure/errors.js";
import { retryAfterMs } from "../azure/service-pipeline.js";
import { CORRELATION_KEY, DECISION_LOG_ENTITY_SET } from "../dataverse/decision-log-table.js";
import { PermissionError } from "../errors.js";
import { batchResults, upsertBatch, type PartResult } from "./batch.js";
import type { DecisionRow } from "./record.js";

export interface WriteOutcome {
  /** Rows Dataverse refused as invalid (400): retrying cannot help, so they count as poison. */
  rejected: Array<{ row: DecisionRow; message: string }>;
}

export interface WriterStats {
  batches: number;
  throttled: number;
}

export interface WriterOptions {
  /** Back-off for a 5xx or a dropped connection; doubles each time. */
  baseDelayMs: number;
  /** Attempts on a 5xx or dropped connection before giving up (a 429 never runs out). */
  maxTransientAttempts: number;
  log(line: string): void;
  sleep(ms: number): Promise<void>;
}

/**
 * Writes rows as `$batch`es of upserts on the correlation-id key. Every retry resends only the rows
 * not yet written; because each is an upsert, a row that did land before a dropped connection is
 * merely rewritten, never duplicated. A 429 (on the batch or on rows inside it) waits Retry-After
 * and tries again, however long the storm lasts: throttling slows the sink, it never drops a row.
 */
export class DecisionLogWriter {
  readonly stats: WriterStats = { batches: 0, throttled: 0 };

  constructor(
    private readonly dataverse: DataverseClient,
    private readonly opts: WriterOptions,
  ) {}

  async write(rows: DecisionRow[]): Promise<WriteOutcome> {
    const rejected: WriteOutcome["rejected"] = [];
    let remaining = rows;
    let transient = 0;
    while (remaining.length > 0) {
      let results: PartResult[];
      try {
        results = await this.send(remaining);
      } catch (err) {
        const status = statusOf(err);
        if (status === 429) {
          this.stats.throttled++;
          const wait = retryAfterMs((err as { response?: { headers: { get(n: string): string | undefined } } }).response?.headers.get("retry-after")) ?? this.opts.baseDelayMs;
          this.opts.log(`Dataverse throttled a batch of ${remaining.length} (429); waiting ${Math.ceil(wait / 1000)} s as Retry-After asks`);
          await this.opts.sleep(wait);
          continue;
        }
        if (status === 401 || status === 403) {
          throw new PermissionError(`Dataverse refused the sink's identity (${status}): ${(err as Error).message}`, "The sink's identity needs a Dataverse application user with Create and Write (and Read) on fsi_aegdecisionlog; see README, aeg sink.");
        }
        if ((status === undefined || status >= 500) && ++transient < this.opts.maxTransientAttempts) {
          const wait = this.opts.baseDelayMs * 2 ** (transient - 1);
          this.opts.log(`Dataverse batch failed (${status ?? (err as Error).message}); retrying ${remaining.length} rows in ${wait} ms`);
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
      if (throttledWait !== undefined) {
        this.stats.throttled++;
        this.opts.log(`Dataverse throttled ${retry.length} of ${remaining.length} rows in a batch (429); waiting ${Math.ceil(throttledWait / 1000)} s as Retry-After asks`);
        await this.opts.sleep(throttledWait);
      } else if (serverError) {
        if (++transient >= this.opts.maxTransientAttempts) throw new Error(`Dataverse kept failing ${retry.length} upserts with 5xx`);
        await this.opts.sleep(this.opts.baseDelayMs * 2 ** (transient - 1));
      }
      remaining = retry;
    }
    return { rejected };
  }

  private async send(rows: DecisionRow[]): Promise<PartResult[]> {
    const api = `${this.dataverse.environmentUrl.replace(/\/+$/, "")}/api/data/v9.2`;
    const { boundary, body } = upsertBatch(
      api,
      rows.map((row) => ({ entitySet: DECISION_LOG_ENTITY_SET, keyAttribute: CORRELATION_KEY.attribute, keyValue: row.fsi_correlationid, body: { ...row } })),
    );
    const res = await this.dataverse.batch(body, boundary, { Prefer: "odata.continue-on-error" });
    return batchResults(res.headers.get("content-type"), typeof res.body === "string" ? res.body : JSON.stringify(res.body ?? ""));
  }
}
