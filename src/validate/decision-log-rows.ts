import { setTimeout as sleep } from "node:timers/promises";
import type { DataverseClient } from "../azure/dataverse.js";
import { DECISION_LOG_ENTITY_SET } from "../dataverse/decision-log-table.js";
import type { DecisionRecordSource } from "./run.js";

/**
 * Reads the rows `aeg sink` wrote to fsi_aegdecisionlog, by correlation id, polling until each id
 * has a row or the deadline passes. A row carries the record it came from in fsi_rawcontext.
 */
export class DecisionLogRows implements DecisionRecordSource {
  constructor(
    private readonly dataverse: DataverseClient,
    private readonly pollMs = 1000,
  ) {}

  async collect(correlationIds: string[], deadlineMs: number): Promise<Map<string, Array<Record<string, unknown>>>> {
    const found = new Map<string, Array<Record<string, unknown>>>();
    const until = Date.now() + deadlineMs;
    for (;;) {
      // One read per id still missing (the OData subset has eq, not in or startswith).
      for (const id of correlationIds.filter((i) => !found.has(i))) {
        const rows = await this.dataverse.rowsWhere<Record<string, unknown>>(DECISION_LOG_ENTITY_SET, "fsi_correlationid", id, ["fsi_correlationid", "fsi_httpstatus", "fsi_anomaly"]);
        if (rows.length > 0) found.set(id, rows);
      }
      if (found.size === correlationIds.length || Date.now() >= until) break;
      await sleep(Math.min(this.pollMs, Math.max(0, until - Date.now())));
    }
    return new Map(correlationIds.map((id) => [id, found.get(id) ?? []]));
  }

  async close(): Promise<void> {}
}
