// Custom tables on the Dataverse stand-in, over HTTPS as a client sends them: the decision-log
// table created through the metadata API exactly as the gateway contract describes it, upserts
// by its alternate key, validation, $batch with an atomic change set, the bulk UpsertMultiple
// (all or nothing on a standard table, partial on an elastic one), and the service-protection
// limits (a fake clock stands in for waiting out Retry-After).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Sandbox } from "../../sandbox/index.js";
import { DataverseLimits } from "../../sandbox/governance/dataverse-limits.js";
import { startTestSandbox } from "../support/sandbox.js";

const ORG = "https://org-aeg-sandbox.crm.dynamics.com";
const API = "/api/data/v9.2";

const label = (text: string) => ({ "@odata.type": "Microsoft.Dynamics.CRM.Label", LocalizedLabels: [{ "@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", Label: text, LanguageCode: 1033 }] });
const str = (schema: string, max: number, primary = false) => ({ "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", SchemaName: schema, AttributeType: "String", AttributeTypeName: { Value: "StringType" }, MaxLength: max, FormatName: { Value: "Text" }, RequiredLevel: { Value: "None" }, DisplayName: label(schema), ...(primary ? { IsPrimaryName: true } : {}) });
const pick = (schema: string, set: string, options: Record<string, number>) => ({
  "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
  SchemaName: schema,
  RequiredLevel: { Value: "None" },
  DisplayName: label(schema),
  OptionSet: { "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata", Name: set, IsGlobal: false, OptionSetType: "Picklist", Options: Object.entries(options).map(([l, v]) => ({ Value: v, Label: label(l) })) },
});

/** `fsi_aegdecisionlog` as the gateway contract defines it. */
const DECISION_LOG = {
  "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
  SchemaName: "fsi_aegdecisionlog",
  DisplayName: label("AEG decision log"),
  DisplayCollectionName: label("AEG decision logs"),
  OwnershipType: "OrganizationOwned",
  IsActivity: false,
  HasActivities: false,
  HasNotes: false,
  Attributes: [
    str("fsi_name", 200, true),
    str("fsi_correlationid", 200),
    { "@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", SchemaName: "fsi_decisiontime", Format: "DateAndTime", RequiredLevel: { Value: "None" }, DisplayName: label("Decision time") },
    str("fsi_agentid", 200),
    str("fsi_userobjectid", 100),
    pick("fsi_channel", "fsi_aeg_channel", { CustomWeb: 100000000, DirectLine: 100000001 }),
    pick("fsi_pathway", "fsi_aeg_pathway", { None: 100000000, McpCopilotStudio: 100000001, McpAgentBuilder: 100000002, ApiDirect: 100000003, Metered: 100000004, Unmapped: 100000005 }),
    pick("fsi_decision", "fsi_aeg_decision", { Allow: 100000000, Deny: 100000001 }),
    pick("fsi_denyreason", "fsi_aeg_denyreason", { None: 100000000, JwtValidationFailed: 100000001, MissingRequiredClaim: 100000002, OutOfPolicyAudience: 100000003, NotInEligibleCohort: 100000004, AgentNonCompliant: 100000005, GovernanceStoreUnavailable: 100000006 }),
    { "@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", SchemaName: "fsi_httpstatus", Format: "None", MinValue: 100, MaxValue: 599, RequiredLevel: { Value: "None" }, DisplayName: label("HTTP status") },
    { "@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata", SchemaName: "fsi_anomaly", RequiredLevel: { Value: "None" }, DisplayName: label("Anomaly"), OptionSet: { TrueOption: { Value: 1, Label: label("Yes") }, FalseOption: { Value: 0, Label: label("No") } } },
    str("fsi_policyversion", 50),
  ],
};

function record(id: string, extra: Record<string, unknown> = {}) {
  return { fsi_name: id, fsi_decisiontime: "2026-06-09T13:45:12.482Z", fsi_agentid: "contoso-kb-assistant", fsi_userobjectid: null, fsi_channel: 100000000, fsi_pathway: 100000005, fsi_decision: 100000000, fsi_denyreason: 100000000, fsi_httpstatus: 200, fsi_anomaly: true, fsi_policyversion: "2026.06.09", fsi_gatewayinstance: "apim-aeg/westeurope", fsi_rawcontext: JSON.stringify({ correlationId: id }), ...extra };
}

async function appToken(sb: Sandbox): Promise<string> {
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope: `${ORG}/.default` }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

function client(sb: Sandbox, token: string) {
  return async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${sb.dataverse}${API}/${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: "application/json", "OData-Version": "4.0", ...(body !== undefined && typeof body !== "string" ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
}

type BatchItem = { method: string; url: string; body?: unknown; headers?: Record<string, string> } | { changeset: { method: string; url: string; body?: unknown }[] };

/** A $batch body as clients build it (CRLF, application/http parts, change sets inside). */
function batchBody(boundary: string, items: BatchItem[]): string {
  const req = (r: { method: string; url: string; body?: unknown; headers?: Record<string, string> }, id?: number) =>
    ["Content-Type: application/http", "Content-Transfer-Encoding: binary", ...(id ? [`Content-ID: ${id}`] : []), "", `${r.method} ${r.url} HTTP/1.1`, ...(r.body !== undefined ? ["Content-Type: application/json; type=entry"] : []), ...Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`), "", r.body !== undefined ? JSON.stringify(r.body) : ""].join("\r\n");
  const out: string[] = [];
  items.forEach((it, i) => {
    if ("changeset" in it) {
      const cs = `changeset_${i}`;
      out.push(`--${boundary}\r\nContent-Type: multipart/mixed; boundary=${cs}\r\n\r\n${it.changeset.map((r, j) => `--${cs}\r\n${req(r, j + 1)}\r\n`).join("")}--${cs}--\r\n`);
    } else out.push(`--${boundary}\r\n${req(it)}\r\n`);
  });
  return `${out.join("")}--${boundary}--\r\n`;
}

/** Status lines of a multipart batch response, in order. */
const statuses = (text: string) => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));

describe("Dataverse custom tables", () => {
  let sb: Sandbox;
  let dv: ReturnType<typeof client>;
  const admin = async (set: string) => ((await (await fetch(`${sb.dataverse}/_sandbox/tables/${set}/rows`)).json()) as { value: any[] }).value;

  beforeAll(async () => {
    ({ sb } = await startTestSandbox());
    dv = client(sb, await appToken(sb));
  });
  afterAll(async () => {
    await sb?.close();
  });

  test("metadata: absent table 404, create the decision log, its alternate key, read it back", async () => {
    const missing = await dv("GET", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')?$select=LogicalName");
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("0x80040217");

    const created = await dv("POST", "EntityDefinitions", DECISION_LOG, { "MSCRM.SolutionUniqueName": "aeg" });
    expect(created.status).toBe(204);
    expect(created.headers.get("odata-entityid")).toMatch(/\/api\/data\/v9\.2\/EntityDefinitions\([0-9a-f-]{36}\)$/);
    // Columns added one by one, as the metadata API allows.
    expect((await dv("POST", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Attributes", str("fsi_gatewayinstance", 200))).status).toBe(204);
    const memo = { "@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata", SchemaName: "fsi_rawcontext", MaxLength: 200000, Format: "TextArea", RequiredLevel: { Value: "None" }, DisplayName: label("Raw context") };
    expect((await dv("POST", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Attributes", memo)).status).toBe(204);
    const key = await dv("POST", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Keys", { "@odata.type": "Microsoft.Dynamics.CRM.EntityKeyMetadata", SchemaName: "fsi_correlationid_key", DisplayName: label("Correlation id"), KeyAttributes: ["fsi_correlationid"] });
    expect(key.status).toBe(204);
    expect((await dv("POST", "EntityDefinitions", DECISION_LOG)).status).toBe(400);

    const meta = await dv("GET", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')?$select=LogicalName,SchemaName,EntitySetName,OwnershipType,PrimaryNameAttribute&$expand=Attributes($select=LogicalName,AttributeType),Keys");
    expect(meta.status).toBe(200);
    expect(meta.json).toMatchObject({ LogicalName: "fsi_aegdecisionlog", EntitySetName: "fsi_aegdecisionlogs", OwnershipType: "OrganizationOwned", PrimaryNameAttribute: "fsi_name" });
    const attrs = Object.fromEntries(meta.json.Attributes.map((a: any) => [a.LogicalName, a]));
    expect(attrs["fsi_correlationid"]).toMatchObject({ AttributeType: "String" });
    expect(attrs["fsi_pathway"].AttributeType).toBe("Picklist");
    expect(attrs["fsi_rawcontext"].AttributeType).toBe("Memo");
    expect(attrs["fsi_aegdecisionlogid"].AttributeType).toBe("Uniqueidentifier");
    expect(meta.json.Keys).toEqual([expect.objectContaining({ KeyAttributes: ["fsi_correlationid"], EntityKeyIndexStatus: "Active" })]);
    const options = await dv("GET", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Attributes");
    const deny = options.json.value.find((a: any) => a.LogicalName === "fsi_denyreason");
    expect(options.json.value.find((a: any) => a.LogicalName === "fsi_correlationid").MaxLength).toBe(200);
    expect(deny.OptionSet.Options.map((o: any) => o.Value)).toEqual([100000000, 100000001, 100000002, 100000003, 100000004, 100000005, 100000006]);

    const seeded = await dv("GET", "EntityDefinitions(LogicalName='fsi_caicompliancestate')?$select=SchemaName,ObjectTypeCode,EntitySetName");
    expect(seeded.json).toMatchObject({ SchemaName: "fsi_CaiComplianceState", EntitySetName: "fsi_caicompliancestates", ObjectTypeCode: expect.any(Number) });
  });

  test("rows: upsert by alternate key twice is one row; duplicates and conditions answer 412/404", async () => {
    const url = "fsi_aegdecisionlogs(fsi_correlationid='corr-1')";
    const first = await dv("PATCH", url, record("corr-1"));
    expect(first.status).toBe(204);
    const id = /\(([0-9a-f-]{36})\)$/.exec(first.headers.get("odata-entityid") ?? "")?.[1];
    expect(id).toBeDefined();
    const again = await dv("PATCH", url, record("corr-1", { fsi_httpstatus: 403, fsi_decision: 100000001 }), { Prefer: "return=representation" });
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ fsi_aegdecisionlogid: id, fsi_correlationid: "corr-1", fsi_httpstatus: 403, fsi_decisiontime: "2026-06-09T13:45:12Z" });
    expect((await admin("fsi_aegdecisionlogs")).filter((r) => r.fsi_correlationid === "corr-1")).toHaveLength(1);

    const dup = await dv("POST", "fsi_aegdecisionlogs", { ...record("corr-1"), fsi_correlationid: "corr-1" });
    expect(dup.status).toBe(412);
    expect(dup.json.error).toEqual({ code: "0x80040237", message: "A record with matching key values already exists." });
    expect((await dv("PATCH", url, record("corr-1"), { "If-None-Match": "*" })).status).toBe(412);
    const absent = await dv("PATCH", "fsi_aegdecisionlogs(fsi_correlationid='nope')", record("nope"), { "If-Match": "*" });
    expect(absent.status).toBe(404);
    expect(absent.json.error.code).toBe("0x80040217");

    const created = await dv("POST", "fsi_aegdecisionlogs?$select=fsi_correlationid", { ...record("corr-2"), fsi_correlationid: "corr-2" }, { Prefer: "return=representation" });
    expect(created.status).toBe(201);
    expect(created.headers.get("odata-entityid")).toBeNull();
    expect(Object.keys(created.json).sort()).toEqual(["@odata.context", "@odata.etag", "fsi_aegdecisionlogid", "fsi_correlationid"]);
    const byKey = await dv("GET", `fsi_aegdecisionlogs(fsi_correlationid='corr-2')?$select=fsi_pathway`, undefined, { Prefer: 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"' });
    expect(byKey.json["fsi_pathway@OData.Community.Display.V1.FormattedValue"]).toBe("Unmapped");
    const list = await dv("GET", "fsi_aegdecisionlogs?$select=fsi_correlationid&$filter=fsi_correlationid eq 'corr-2'");
    expect(list.json.value).toHaveLength(1);
  });

  test("rows: column validation answers Dataverse's codes", async () => {
    const post = (extra: Record<string, unknown>) => dv("POST", "fsi_aegdecisionlogs", { ...record("v"), ...extra });
    const long = await post({ fsi_policyversion: "x".repeat(51) });
    expect(long.status).toBe(400);
    expect(long.json.error.code).toBe("0x80044331");
    expect(long.json.error.message).toContain("exceeded the maximum allowed length of '50'");
    const option = await post({ fsi_pathway: 5 });
    expect(option.json.error.code).toBe("0x8004431a");
    expect(option.json.error.message).toContain("Accepted Values: 100000000,100000001,100000002,100000003,100000004,100000005");
    expect((await post({ fsi_httpstatus: "200" })).json.error.code).toBe("0x80048d19");
    expect((await post({ fsi_anomaly: "yes" })).json.error.code).toBe("0x80048d19");
    expect((await post({ fsi_decisiontime: "yesterday" })).json.error.code).toBe("0x80048d19");
    expect((await post({ fsi_httpstatus: 700 })).status).toBe(400);
    expect((await post({ fsi_Pathway: 100000000 })).json.error.code).toBe("0x80060888");
  });

  test("$batch: 100 upserts, and a failing change set rolls back", async () => {
    const before = (await admin("fsi_aegdecisionlogs")).length;
    const upserts: BatchItem[] = Array.from({ length: 100 }, (_, i) => ({ method: "PATCH", url: `${API}/fsi_aegdecisionlogs(fsi_correlationid='b-${i}')`, body: record(`b-${i}`) }));
    const changeset: BatchItem = {
      changeset: [
        { method: "POST", url: `${API}/fsi_aegdecisionlogs`, body: { ...record("cs-1"), fsi_correlationid: "cs-1" } },
        { method: "PATCH", url: `fsi_aegdecisionlogs(fsi_correlationid='cs-2')`, body: record("cs-2", { fsi_decision: 7 }) },
      ],
    };
    const okSet: BatchItem = { changeset: [{ method: "POST", url: `${sb.dataverse}${API}/fsi_aegdecisionlogs`, body: { ...record("cs-3"), fsi_correlationid: "cs-3" } }] };
    const boundary = "batch_aeg1";
    const res = await dv("POST", "$batch", batchBody(boundary, [...upserts, changeset, okSet, { method: "GET", url: `fsi_aegdecisionlogs?$select=fsi_correlationid&$filter=${encodeURIComponent("fsi_correlationid eq 'b-7'")}` }]), { "content-type": `multipart/mixed; boundary=${boundary}`, Prefer: "odata.continue-on-error" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^multipart\/mixed; boundary=batchresponse_/);
    expect(res.headers.get("preference-applied")).toBe("odata.continue-on-error");
    const st = statuses(res.text);
    expect(st.slice(0, 100).every((s) => s === 204)).toBe(true);
    expect(st.slice(100)).toEqual([400, 204, 200]); // the failed change set answers its error only
    expect(res.text).toContain("0x8004431a");
    expect(res.text).toContain('"fsi_correlationid":"b-7"');
    const rows = await admin("fsi_aegdecisionlogs");
    expect(rows.length).toBe(before + 101);
    expect(rows.some((r) => r.fsi_correlationid === "cs-1")).toBe(false); // rolled back
    expect(rows.some((r) => r.fsi_correlationid === "cs-3")).toBe(true);

    // Without continue-on-error the batch stops at the first failure.
    const stop = await dv("POST", "$batch", batchBody(boundary, [{ method: "POST", url: "fsi_aegdecisionlogs", body: { fsi_pathway: 1 } }, { method: "GET", url: "fsi_aegdecisionlogs?$top=1" }]), { "content-type": `multipart/mixed; boundary=${boundary}` });
    expect(statuses(stop.text)).toEqual([400]);
    // Over 1000 requests: refused as a whole.
    const many = Array.from({ length: 1001 }, () => ({ method: "GET", url: "fsi_aegdecisionlogs?$top=1" }));
    expect((await dv("POST", "$batch", batchBody(boundary, many), { "content-type": `multipart/mixed; boundary=${boundary}` })).status).toBe(400);
  });
});

describe("Dataverse service-protection limits", () => {
  let sb: Sandbox;
  let dv: ReturnType<typeof client>;
  let clock = Date.parse("2026-06-09T12:00:00Z");

  beforeAll(async () => {
    ({ sb } = await startTestSandbox({ dataverseLimits: { requestsPer5Min: 10, now: () => clock } }));
    dv = client(sb, await appToken(sb));
  });
  afterAll(async () => {
    await sb?.close();
  });

  /** A client that honours Retry-After: "waiting" advances the fake clock. */
  async function politely(p: string): Promise<{ status: number; retries: number }> {
    for (let retries = 0; ; retries++) {
      const r = await dv("GET", p);
      if (r.status !== 429) return { status: r.status, retries };
      clock += Number(r.headers.get("retry-after")) * 1000;
    }
  }

  test("the 11th request in the window gets 429 with Retry-After; ignoring it keeps failing", async () => {
    for (let i = 0; i < 10; i++) expect((await dv("GET", "fsi_caicompliancestates?$top=1")).status).toBe(200);
    const r = await dv("GET", "fsi_caicompliancestates?$top=1");
    expect(r.status).toBe(429);
    expect(r.json.error.code).toBe("0x80072322");
    expect(r.json.error.message).toBe("Number of requests exceeded the limit of 10 over time window of 300 seconds.");
    const wait = Number(r.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(300);
    clock += 1000;
    expect((await dv("GET", "fsi_caicompliancestates?$top=1")).status).toBe(429); // retried too early
    expect(await politely("fsi_caicompliancestates?$top=1")).toMatchObject({ status: 200 });
  });

  test("requests inside a $batch each count", async () => {
    clock += 301_000; // a fresh window
    const boundary = "batch_limits";
    const four = Array.from({ length: 4 }, () => ({ method: "GET", url: "fsi_caicompliancestates?$top=1" }));
    const b = await dv("POST", "$batch", batchBody(boundary, four), { "content-type": `multipart/mixed; boundary=${boundary}` });
    expect(statuses(b.text)).toEqual([200, 200, 200, 200]);
    for (let i = 0; i < 6; i++) expect((await dv("GET", "fsi_caicompliancestates?$top=1")).status).toBe(200);
    expect((await dv("GET", "fsi_caicompliancestates?$top=1")).status).toBe(429);
    // A batch that arrives over the limit is refused whole, with Retry-After.
    const over = await dv("POST", "$batch", batchBody(boundary, four.slice(0, 2)), { "content-type": `multipart/mixed; boundary=${boundary}` });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    // One that crosses the limit part-way: the requests beyond it answer 429 inside the batch.
    clock += 301_000;
    for (let i = 0; i < 8; i++) expect((await dv("GET", "fsi_caicompliancestates?$top=1")).status).toBe(200);
    const crossing = await dv("POST", "$batch", batchBody(boundary, four), { "content-type": `multipart/mixed; boundary=${boundary}`, Prefer: "odata.continue-on-error" });
    expect(statuses(crossing.text)).toEqual([200, 200, 429, 429]);
    expect(crossing.text).toMatch(/Retry-After: \d+/);
  });
});

/** The decision log as the gateway contract has it, with its alternate key, through the metadata API. */
async function createDecisionLog(dv: ReturnType<typeof client>): Promise<void> {
  expect((await dv("POST", "EntityDefinitions", DECISION_LOG)).status).toBe(204);
  const memo = { "@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata", SchemaName: "fsi_rawcontext", MaxLength: 200000, Format: "TextArea", RequiredLevel: { Value: "None" }, DisplayName: label("Raw context") };
  for (const a of [str("fsi_gatewayinstance", 200), memo]) expect((await dv("POST", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Attributes", a)).status).toBe(204);
  const key = { "@odata.type": "Microsoft.Dynamics.CRM.EntityKeyMetadata", SchemaName: "fsi_correlationid_key", DisplayName: label("Correlation id"), KeyAttributes: ["fsi_correlationid"] };
  expect((await dv("POST", "EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Keys", key)).status).toBe(204);
}

/** An UpsertMultiple target as a client sends it: typed, addressed by the key in @odata.id (URL-encoded). */
const target = (id: string, extra: Record<string, unknown> = {}, type = "fsi_aegdecisionlog", set = "fsi_aegdecisionlogs") => ({
  "@odata.type": `Microsoft.Dynamics.CRM.${type}`,
  "@odata.id": `${set}(fsi_correlationid=${encodeURIComponent(`'${id.replace(/'/g, "''")}'`)})`,
  ...record(id),
  fsi_correlationid: id,
  ...extra,
});

describe("Dataverse UpsertMultiple", () => {
  let sb: Sandbox;
  let dv: ReturnType<typeof client>;
  let clock = Date.parse("2026-06-09T12:00:00Z");
  const rows = async (set = "fsi_aegdecisionlogs") => ((await (await fetch(`${sb.dataverse}/_sandbox/tables/${set}/rows`)).json()) as { value: any[] }).value;
  const counted = async () => (await (await fetch(`${sb.dataverse}/_sandbox/requests`)).json()) as { total: number; rows: number; executionMs: number; throttled: number };
  const upsertMultiple = (targets: unknown[], set = "fsi_aegdecisionlogs", headers: Record<string, string> = {}) => dv("POST", `${set}/Microsoft.Dynamics.CRM.UpsertMultiple`, { Targets: targets }, headers);

  beforeAll(async () => {
    // 1 s of execution per window: 100 rows at the modelled 10 ms each fill it.
    ({ sb } = await startTestSandbox({ dataverseLimits: { executionMsPer5Min: 1000, now: () => clock } }));
    dv = client(sb, await appToken(sb));
    await createDecisionLog(dv);
  });
  afterAll(async () => {
    await sb?.close();
  });

  test("one request creates and updates rows by their alternate key: 204, one request as service protection counts, execution time by rows", async () => {
    expect((await dv("PATCH", "fsi_aegdecisionlogs(fsi_correlationid='u-1')", record("u-1"))).status).toBe(204);
    const [before] = await rows();
    expect((await fetch(`${sb.dataverse}/_sandbox/requests/reset`, { method: "POST" })).status).toBe(200);

    const res = await upsertMultiple([target("u-1", { fsi_httpstatus: 403 }), target("u-2"), target("o'brien & co")]);
    expect(res.status, res.text).toBe(204);
    expect(res.text).toBe("");
    expect(res.headers.get("x-ms-dop-hint")).toBe("4");
    const all = await rows();
    expect(all.map((r) => r.fsi_correlationid).sort()).toEqual(["o'brien & co", "u-1", "u-2"]);
    const updated = all.find((r) => r.fsi_correlationid === "u-1");
    expect(updated).toMatchObject({ fsi_aegdecisionlogid: before.fsi_aegdecisionlogid, fsi_httpstatus: 403 });
    expect(updated.versionnumber).toBeGreaterThan(before.versionnumber);
    expect(await counted()).toMatchObject({ total: 1, rows: 3, executionMs: 30, throttled: 0 });
  });

  test("standard table: one bad row rolls the whole request back, and the answer is the first failing row's own error", async () => {
    clock += 301_000;
    const before = await rows();
    const res = await upsertMultiple([target("p-1"), target("u-1", { fsi_httpstatus: 500 }), target("p-2", { fsi_httpstatus: 700 }), target("p-3", { fsi_policyversion: "x".repeat(51) })]);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("0x8004431a"); // p-2's range error, not p-3's length error
    expect(res.json.error.message).toContain("fsi_httpstatus");
    expect(await rows()).toEqual(before); // p-1 not created, u-1 not updated
  });

  test("refused whole: two targets with one key, an untyped target, another table's type", async () => {
    clock += 301_000;
    const before = await rows();
    const dup = await upsertMultiple([target("d-1"), target("D-1")]);
    expect(dup.status).toBe(400);
    expect(dup.json.error.message).toMatch(/Targets\[0\] and Targets\[1\] identify the same/);
    const { ["@odata.type"]: _type, ...untyped } = target("t-1");
    const noType = await upsertMultiple([target("t-0"), untyped]);
    expect(noType.status).toBe(400);
    expect(noType.json.error.message).toMatch(/Targets\[1\] has no @odata.type/);
    expect((await upsertMultiple([target("t-2", {}, "fsi_caicompliancestate")])).status).toBe(400);
    expect((await upsertMultiple([])).status).toBe(400);
    expect(await rows()).toEqual(before);
  });

  test("where the message is unavailable: 0x80040800 for a table without it (the seeded ones, or all when switched off)", async () => {
    clock += 301_000;
    const seeded = await upsertMultiple([{ "@odata.type": "Microsoft.Dynamics.CRM.fsi_caicompliancestate", fsi_agentid: "x" }], "fsi_caicompliancestates");
    expect(seeded.status).toBe(400);
    expect(seeded.json.error).toEqual({ code: "0x80040800", message: "The 'UpsertMultiple' method does not support entities of type 'fsi_caicompliancestate'. MessageProcessorCache returned MessageProcessor.Empty." });
    expect((await upsertMultiple([target("x")], "nosuchsets")).status).toBe(404);
    const off = await fetch(`${sb.dataverse}/_sandbox/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ UpsertMultiple: false }) });
    expect(await off.json()).toEqual({ UpsertMultiple: false });
    const custom = await upsertMultiple([target("m-1")]);
    expect(custom.status).toBe(400);
    expect(custom.json.error.code).toBe("0x80040800");
    await fetch(`${sb.dataverse}/_sandbox/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ UpsertMultiple: true }) });
    expect((await upsertMultiple([target("m-1")])).status).toBe(204);
  });

  test("elastic table: the rows that pass stay written; with the annotations asked for, the error lists each record's status", async () => {
    clock += 301_000;
    const sensor = {
      "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
      SchemaName: "fsi_sensor",
      TableType: "Elastic",
      DisplayName: label("Sensor"),
      DisplayCollectionName: label("Sensors"),
      OwnershipType: "UserOwned",
      HasNotes: false,
      HasActivities: false,
      Attributes: [str("fsi_name", 100, true), str("fsi_correlationid", 100), { "@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", SchemaName: "fsi_value", Format: "None", MinValue: 0, MaxValue: 10, RequiredLevel: { Value: "None" }, DisplayName: label("Value") }],
    };
    expect((await dv("POST", "EntityDefinitions", sensor)).status).toBe(204);
    expect((await dv("GET", "EntityDefinitions(LogicalName='fsi_sensor')?$select=TableType")).json.TableType).toBe("Elastic");
    expect((await dv("POST", "EntityDefinitions(LogicalName='fsi_sensor')/Keys", { SchemaName: "fsi_sensor_key", DisplayName: label("Key"), KeyAttributes: ["fsi_correlationid"] })).status).toBe(204);
    const t = (id: string, value: number) => ({ "@odata.type": "Microsoft.Dynamics.CRM.fsi_sensor", "@odata.id": `fsi_sensors(fsi_correlationid='${id}')`, fsi_name: id, fsi_value: value });
    const res = await upsertMultiple([t("s-1", 1), t("s-2", 99), t("s-3", 3)], "fsi_sensors", { Prefer: 'odata.include-annotations="*"' });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("0x8004431a");
    const details = JSON.parse(res.json.error["@Microsoft.PowerApps.CDS.ErrorDetails.Plugin.BulkApiErrorDetails"]);
    expect(details.map((d: any) => [d.RequestIndex, d.StatusCode])).toEqual([[0, 201], [1, 400], [2, 201]]);
    expect((await rows("fsi_sensors")).map((r) => r.fsi_correlationid).sort()).toEqual(["s-1", "s-3"]);
    // Without the Prefer header the error is the same, without the per-record list.
    const plain = await upsertMultiple([t("s-4", 99)], "fsi_sensors");
    expect(plain.status).toBe(400);
    expect(Object.keys(plain.json.error).sort()).toEqual(["code", "message"]);
  });

  test("a big request is one request but fills the execution-time budget: the next waits for the window", async () => {
    clock += 301_000;
    await fetch(`${sb.dataverse}/_sandbox/requests/reset`, { method: "POST" });
    const hundred = Array.from({ length: 100 }, (_, i) => target(`big-${i}`));
    expect((await upsertMultiple(hundred)).status).toBe(204);
    const next = await upsertMultiple([target("big-next")]);
    expect(next.status).toBe(429);
    expect(next.json.error.code).toBe("0x80072321");
    const wait = Number(next.headers.get("retry-after"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(300);
    expect(await counted()).toMatchObject({ total: 1, rows: 100, executionMs: 1000, throttled: 1 });
    clock += wait * 1000;
    expect((await upsertMultiple([target("big-next")])).status).toBe(204);
  });
});

describe("the execution-time model", () => {
  test("a write's modelled time is charged, and with realTime the answer waits for it", async () => {
    const limits = new DataverseLimits({ perRowMs: 10, realTime: true });
    const admitted = limits.admit("caller");
    if (!admitted.ok) throw new Error("not admitted");
    const started = performance.now();
    await admitted.ticket.rows(20);
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    admitted.ticket.done();
    expect(limits.counts()).toMatchObject({ total: 1, rows: 20, executionMs: expect.any(Number) });
    expect(limits.counts().executionMs).toBeGreaterThanOrEqual(200);
    expect(admitted.ticket.headers()["x-ms-dop-hint"]).toBe("4");
  });

  test("without realTime the charge is immediate; requests that write nothing cost what they took", async () => {
    let clock = 0;
    const limits = new DataverseLimits({ now: () => clock });
    const write = limits.admit("c");
    const read = limits.admit("c");
    if (!write.ok || !read.ok) throw new Error("not admitted");
    const started = performance.now();
    await write.ticket.rows(1000);
    expect(performance.now() - started).toBeLessThan(100);
    clock += 7;
    write.ticket.done();
    read.ticket.done();
    expect(limits.counts()).toMatchObject({ total: 2, rows: 1000, executionMs: 10_000 + 7, peakConcurrent: 2 });
    limits.resetCounts();
    expect(limits.counts()).toMatchObject({ total: 0, executionMs: 0 });
  });
});
