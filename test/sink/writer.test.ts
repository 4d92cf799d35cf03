// The sink's writer against the sandbox's Dataverse over HTTPS: UpsertMultiple for a whole batch,
// what it does when Dataverse refuses a batch because of one row (standard table: nothing written,
// so $batch finds the row; elastic table: the others are kept), the $batch fallback where the
// message is unavailable (decided once), Retry-After, and the parallelism Dataverse recommends.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DataverseClient } from "../../src/azure/dataverse.js";
import { attributeBody, DECISION_LOG_COLUMNS, keyBody, tableBody } from "../../src/dataverse/decision-log-table.js";
import { bulkErrorDetails, bulkUnavailable, latestPerKey, upsertTargets } from "../../src/sink/bulk.js";
import { toDecisionRow, type DecisionRow } from "../../src/sink/record.js";
import { DecisionLogWriter, type WriterOptions } from "../../src/sink/writer.js";
import { credential, startTestSandbox, type TestSandbox } from "../support/sandbox.js";

function row(id: string, extra: Partial<DecisionRow> = {}): DecisionRow {
  const parsed = toDecisionRow(JSON.stringify({ schemaVersion: 1, correlationId: id, decisionTime: "2026-06-09T13:45:12.482Z", agentId: "contoso-kb-assistant", userObjectId: null, channel: "custom-web", pathway: "metered", decision: "Allow", denyReason: "None", anomaly: false, httpStatus: 200, policyVersion: "2026.06.09", gatewayInstance: "apim-aeg/westeurope" }));
  if (!parsed.ok) throw new Error(parsed.reason);
  return { ...parsed.row, ...extra };
}

/** A sandbox with fsi_aegdecisionlog made as setup makes it (standard, or elastic), and a writer on it. */
async function decisionLogSandbox(tableType: "Standard" | "Elastic") {
  const t = await startTestSandbox();
  const dataverse = new DataverseClient(t.sb.dataverse, credential(t.sb), undefined, { maxRetries: 0 });
  await dataverse.createTable({ ...tableBody(), TableType: tableType });
  for (const c of DECISION_LOG_COLUMNS.filter((x) => !x.primaryName)) await dataverse.createAttribute("fsi_aegdecisionlog", attributeBody(c));
  await dataverse.createKey("fsi_aegdecisionlog", keyBody());
  const lines: string[] = [];
  const writer = (opts: Partial<WriterOptions> = {}) => new DecisionLogWriter(dataverse, { baseDelayMs: 10, maxTransientAttempts: 3, log: (l) => lines.push(l), sleep: (ms) => sleep(Math.min(ms, 50)), ...opts });
  const admin = (p: string, init?: RequestInit) => fetch(`${t.sb.dataverse}/_sandbox/${p}`, init);
  return {
    t,
    lines,
    writer,
    rows: async () => ((await (await admin("tables/fsi_aegdecisionlogs/rows")).json()) as { value: DecisionRow[] }).value,
    counted: async () => ((await (await admin("requests")).json()) as { total: number; rows: number }),
    reset: () => admin("requests/reset", { method: "POST" }),
    setBulk: (on: boolean) => admin("messages", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ UpsertMultiple: on }) }),
    fault: (body: unknown) => admin("faults", { method: "POST", body: JSON.stringify(body) }),
  };
}

describe("bulk helpers", () => {
  it("targets are typed and addressed by the key (escaped), with the key column kept", () => {
    expect(upsertTargets({ logicalName: "t", entitySet: "ts", keyAttribute: "k" }, [{ k: "o'b c", v: 1 }])).toEqual([{ "@odata.type": "Microsoft.Dynamics.CRM.t", "@odata.id": "ts(k='o''b%20c')", k: "o'b c", v: 1 }]);
  });

  it("keeps the last row of each key, keys compared without case", () => {
    expect(latestPerKey([{ k: "a", n: 1 }, { k: "B", n: 2 }, { k: "A", n: 3 }], "k")).toEqual([{ k: "B", n: 2 }, { k: "A", n: 3 }]);
  });

  it.each([
    [404, "0x8006088a", "Resource not found for the segment 'Microsoft.Dynamics.CRM.UpsertMultiple'.", true],
    [400, "0x80040800", "The 'UpsertMultiple' method does not support entities of type 'x'.", true],
    [501, "", "UpsertMultiple has not yet been implemented.", true],
    [400, "0x8004431a", "A validation error occurred.", false],
    [429, "0x80072322", "Number of requests exceeded the limit", false],
  ])("%i %s is 'unavailable': %s → %s", (status, code, message, expected) => {
    expect(bulkUnavailable(status, code, message)).toBe(expected);
  });

  it("reads each record's status from the error-details annotation", () => {
    const body = JSON.stringify({ error: { code: "0x8004431a", message: "bad", "@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails": JSON.stringify([{ RequestIndex: 0, Id: "a", StatusCode: 201 }, { RequestIndex: 1, Id: null, StatusCode: 400 }]) } });
    expect([...bulkErrorDetails(body)!]).toEqual([[0, 201], [1, 400]]);
    expect(bulkErrorDetails(JSON.stringify({ error: { code: "x", message: "y" } }))).toBeUndefined();
    expect(bulkErrorDetails("not json")).toBeUndefined();
  });
});

describe("the writer on a standard table", () => {
  let s: Awaited<ReturnType<typeof decisionLogSandbox>>;
  beforeAll(async () => {
    s = await decisionLogSandbox("Standard");
  });
  afterAll(async () => {
    await s?.t.sb.close();
  });
  beforeEach(async () => {
    await s.reset();
    s.lines.length = 0;
  });

  it("writes a batch in one UpsertMultiple request; a replay rewrites, never duplicates; the last of two rows with one key wins", async () => {
    const w = s.writer();
    const rows = Array.from({ length: 250 }, (_, i) => row(`w-${i}`));
    expect(await w.write([...rows, row("W-7", { fsi_httpstatus: 403 })])).toEqual({ rejected: [] });
    expect(await s.counted()).toMatchObject({ total: 1, rows: 250 });
    expect(w.mode).toBe("UpsertMultiple");
    await w.write(rows.slice(0, 10)); // a crash replay
    const stored = (await s.rows()).filter((r) => r.fsi_correlationid.toLowerCase().startsWith("w-"));
    expect(stored).toHaveLength(250);
    expect(stored.find((r) => r.fsi_correlationid.toLowerCase() === "w-7")!.fsi_httpstatus).toBe(200); // rewritten by the replay
    expect(w.parallelism).toBe(4); // x-ms-dop-hint
    expect(s.writer({ maxParallel: 2 }).parallelism).toBe(1); // nothing heard yet
  });

  it("one bad row: Dataverse rolls the request back whole; the writer finds the row through $batch and writes the rest", async () => {
    const w = s.writer();
    const rows = [row("p-1"), row("p-2", { fsi_httpstatus: 700 }), row("p-3")];
    const { rejected } = await w.write(rows);
    expect(rejected.map((r) => r.row.fsi_correlationid)).toEqual(["p-2"]);
    expect(rejected[0]!.message).toMatch(/outside the valid range/);
    const stored = (await s.rows()).map((r) => r.fsi_correlationid);
    expect(stored).toEqual(expect.arrayContaining(["p-1", "p-3"]));
    expect(stored).not.toContain("p-2");
    expect(await s.counted()).toMatchObject({ total: 1 + 3 }); // the refused bulk request, then one per $batch part
    expect(w.mode).toBe("UpsertMultiple"); // a refused batch is not an unavailable message
    expect(s.lines.join("\n")).toMatch(/UpsertMultiple refused 3 rows and wrote none/);
  });

  it("where UpsertMultiple is unavailable, falls back to $batch once and stays there for the run", async () => {
    await s.setBulk(false);
    try {
      const w = s.writer();
      await w.write([row("f-1"), row("f-2")]);
      expect(w.mode).toBe("$batch");
      expect(await s.counted()).toMatchObject({ total: 1 + 2 });
      await s.reset();
      await w.write([row("f-3"), row("f-4"), row("f-5")]);
      expect(await s.counted()).toMatchObject({ total: 3 }); // no second try of the bulk message
      expect((await s.rows()).filter((r) => r.fsi_correlationid.startsWith("f-"))).toHaveLength(5);
      expect(s.lines.filter((l) => /not available here/.test(l))).toHaveLength(1);
    } finally {
      await s.setBulk(true);
    }
  });

  it("a 429 waits Retry-After and sends the same rows again", async () => {
    await s.fault({ mode: "throttle", retryAfterSeconds: 1 });
    const waits: number[] = [];
    const w = s.writer({
      sleep: async (ms) => {
        waits.push(ms);
        await s.fault({ mode: "ok" }); // the storm passes while we wait
        await sleep(ms);
      },
    });
    expect(await w.write([row("t-1")])).toEqual({ rejected: [] });
    expect(waits[0]).toBeGreaterThan(800); // what Retry-After asked (1 s), less the time since
    expect(w.stats.throttled).toBe(1);
    expect((await s.rows()).some((r) => r.fsi_correlationid === "t-1")).toBe(true);
  });
});

describe("the writer on an elastic table", () => {
  let s: Awaited<ReturnType<typeof decisionLogSandbox>>;
  beforeAll(async () => {
    s = await decisionLogSandbox("Elastic");
  });
  afterAll(async () => {
    await s?.t.sb.close();
  });

  it("partial success: the good rows stay written from the one request, the bad one is rejected, nothing is resent", async () => {
    await s.reset();
    const w = s.writer();
    const { rejected } = await w.write([row("e-1"), row("e-2", { fsi_httpstatus: 700 }), row("e-3")]);
    expect(rejected.map((r) => r.row.fsi_correlationid)).toEqual(["e-2"]);
    expect((await s.rows()).map((r) => r.fsi_correlationid).sort()).toEqual(["e-1", "e-3"]);
    expect(await s.counted()).toMatchObject({ total: 1 });
  });
});
