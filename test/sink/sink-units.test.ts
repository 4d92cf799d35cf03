// The sink's pure parts: record → row (option-set integers, the unknown-pathway rule, poison),
// the $batch codec and the local checkpoint store.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { batchResults, keySegment, upsertBatch } from "../../src/sink/batch.js";
import { FileCheckpointStore } from "../../src/sink/checkpoint-store.js";
import { toDecisionRow } from "../../src/sink/record.js";

const record = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 1,
  correlationId: "c-1",
  decisionTime: "2026-06-09T13:45:12.482Z",
  agentId: "contoso-kb-assistant",
  userObjectId: "0b8f2f1e-0000-4000-8000-000000000001",
  channel: "custom-web",
  pathway: "metered",
  decision: "Deny",
  denyReason: "NotInEligibleCohort",
  anomaly: false,
  httpStatus: 403,
  policyVersion: "2026.06.09",
  gatewayInstance: "apim-aeg/westeurope",
  ...extra,
});

describe("record → row", () => {
  it("maps contract values to option-set integers and keeps the record as sent", () => {
    const text = JSON.stringify(record());
    const parsed = toDecisionRow(text);
    expect(parsed).toEqual({
      ok: true,
      row: {
        fsi_name: "c-1",
        fsi_correlationid: "c-1",
        fsi_decisiontime: "2026-06-09T13:45:12.482Z",
        fsi_agentid: "contoso-kb-assistant",
        fsi_userobjectid: "0b8f2f1e-0000-4000-8000-000000000001",
        fsi_channel: 100000000,
        fsi_pathway: 100000004,
        fsi_decision: 100000001,
        fsi_denyreason: 100000004,
        fsi_httpstatus: 403,
        fsi_anomaly: false,
        fsi_policyversion: "2026.06.09",
        fsi_gatewayinstance: "apim-aeg/westeurope",
        fsi_rawcontext: text,
      },
    });
  });

  it("bytes and already-decoded bodies are accepted too", () => {
    expect(toDecisionRow(Buffer.from(JSON.stringify(record()))).ok).toBe(true);
    expect(toDecisionRow(record({ channel: "direct-line" }))).toMatchObject({ ok: true, row: { fsi_channel: 100000001 } });
  });

  it.each(["unknown", "something-new", null])("an unknown pathway (%s) is stored as Unmapped with the anomaly flag", (pathway) => {
    expect(toDecisionRow(JSON.stringify(record({ pathway, anomaly: false, decision: "Allow", denyReason: "None" })))).toMatchObject({ ok: true, row: { fsi_pathway: 100000005, fsi_anomaly: true } });
  });

  it.each([
    ["not JSON", "{oops", /not JSON/],
    ["an array", "[1,2]", /not a JSON object/],
    ["no correlation id", JSON.stringify(record({ correlationId: undefined })), /correlationId/],
    ["a control character in the id", JSON.stringify(record({ correlationId: "a\nb" })), /correlationId/],
    ["another schema version", JSON.stringify(record({ schemaVersion: 2 })), /schemaVersion/],
    ["a bad decision", JSON.stringify(record({ decision: "Maybe" })), /decision/],
    ["a bad deny reason", JSON.stringify(record({ denyReason: "No eligible cohort" })), /denyReason/],
    ["a bad channel", JSON.stringify(record({ channel: "teams" })), /channel/],
    ["a bad status", JSON.stringify(record({ httpStatus: "403" })), /httpStatus/],
    ["a bad time", JSON.stringify(record({ decisionTime: "yesterday" })), /decisionTime/],
  ])("poison: %s", (_what, body, reason) => {
    const parsed = toDecisionRow(body);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.reason).toMatch(reason);
  });
});

describe("$batch codec", () => {
  it("escapes the key as an OData literal and URL-encodes it", () => {
    expect(keySegment("fsi_correlationid", "o'brien x")).toBe("fsi_correlationid='o''brien%20x'");
  });

  it("builds one PATCH part per row, outside any change set", () => {
    const { body, boundary } = upsertBatch("https://org.crm.dynamics.com/api/data/v9.2", [{ entitySet: "fsi_aegdecisionlogs", keyAttribute: "fsi_correlationid", keyValue: "a", body: { fsi_name: "a" } }], "batch_t");
    expect(boundary).toBe("batch_t");
    expect(body).toContain("PATCH https://org.crm.dynamics.com/api/data/v9.2/fsi_aegdecisionlogs(fsi_correlationid='a') HTTP/1.1\r\n");
    expect(body).not.toMatch(/changeset/);
    expect(body.endsWith("--batch_t--\r\n")).toBe(true);
  });

  it("reads each part's status, Retry-After and error message", () => {
    const text = [
      "--batchresponse_x",
      "Content-Type: application/http",
      "",
      "HTTP/1.1 204 No Content",
      "OData-Version: 4.0",
      "",
      "",
      "--batchresponse_x",
      "Content-Type: application/http",
      "",
      "HTTP/1.1 429 Too Many Requests",
      "Retry-After: 2",
      "Content-Type: application/json",
      "",
      '{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit"}}',
      "--batchresponse_x",
      "Content-Type: application/http",
      "",
      "HTTP/1.1 400 Bad Request",
      "",
      '{"error":{"code":"0x80044331","message":"too long"}}',
      "--batchresponse_x--",
    ].join("\r\n");
    expect(batchResults("multipart/mixed; boundary=batchresponse_x", text)).toEqual([
      { status: 204 },
      { status: 429, retryAfterMs: 2000, message: "Number of requests exceeded the limit" },
      { status: 400, message: "too long" },
    ]);
  });
});

describe("FileCheckpointStore", () => {
  const cp = (partitionId: string, sequenceNumber: number) => ({ fullyQualifiedNamespace: "ns.servicebus.windows.net", eventHubName: "hub", consumerGroup: "$Default", partitionId, sequenceNumber, offset: String(sequenceNumber * 100) });

  it("persists checkpoints across instances (a restart), per partition, last write wins", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "aeg-cp-"));
    const a = new FileCheckpointStore(dir);
    await a.updateCheckpoint(cp("0", 1));
    await a.updateCheckpoint(cp("0", 7));
    await a.updateCheckpoint(cp("1", 3));
    const b = new FileCheckpointStore(dir);
    const list = await b.listCheckpoints("NS.servicebus.windows.net", "hub", "$Default");
    expect(list.sort((x, y) => x.partitionId.localeCompare(y.partitionId))).toEqual([cp("0", 7), cp("1", 3)]);
    expect(await b.listCheckpoints("ns.servicebus.windows.net", "hub", "other")).toEqual([]);
  });

  it("a damaged checkpoint file stops the sink with the fix, rather than rewinding silently", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "aeg-cp-"));
    const s = new FileCheckpointStore(dir);
    await s.updateCheckpoint(cp("0", 1));
    const file = path.join(dir, "checkpoints", "ns.servicebus.windows.net", "hub", "%24default", "0.json");
    expect(JSON.parse(await readFile(file, "utf8")).sequenceNumber).toBe(1);
    await writeFile(file, "{half");
    await expect(s.listCheckpoints("ns.servicebus.windows.net", "hub", "$Default")).rejects.toThrow(/not valid JSON; delete it/);
  });

  it("claims ownership only against the etag last seen", async () => {
    const s = new FileCheckpointStore(await mkdtemp(path.join(os.tmpdir(), "aeg-cp-")));
    const own = { fullyQualifiedNamespace: "ns", eventHubName: "hub", consumerGroup: "$Default", partitionId: "0", ownerId: "me" };
    const [claimed] = await s.claimOwnership([own]);
    expect(claimed!.etag).toBeTruthy();
    expect(await s.claimOwnership([{ ...own, ownerId: "other" }])).toEqual([]);
    expect(await s.claimOwnership([{ ...claimed!, ownerId: "me" }])).toHaveLength(1);
    expect(await s.listOwnership("ns", "hub", "$Default")).toHaveLength(1);
  });
});
