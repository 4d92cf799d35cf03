// The decision-log table and `aeg sink` end to end: the built CLI against a sandbox tenant. The
// table is made by hand without one column before setup (doctor 4, setup adds it, doctor 0);
// records go through the real gateway (persona tokens) or straight into the hub with the producer;
// rows are counted per correlation id through the sandbox's admin read, Dataverse requests through
// the sandbox's service-protection counters.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EventHubProducerClient } from "@azure/event-hubs";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { personaToken } from "../../sandbox/index.js";
import { attributeBody, DECISION_LOG_COLUMNS, keyBody, tableBody } from "../../src/dataverse/decision-log-table.js";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { aegArgv, aegEnv, configWith, runAeg, spawnAeg, testTenant, waitFor, type TestTenant } from "../support/cli.js";
import { bootId, sleeper, underNonReapingParent, type TestProcess } from "../support/processes.js";

const KB = "contoso-kb-assistant";
const APP_ID_URI = "api://agent-eligibility-gateway";
const DV = "/api/data/v9.2";
const FQNS = "ehns-aeg-sandbox.servicebus.windows.net";
const HUB = "aeg-decisions";

let tenant: TestTenant;
let config: string;
let seq = 0;
const checkpoints = () => path.join(tenant.cwd, "sink-checkpoints");
const sinkArgs = (...extra: string[]) => ["sink", "--config", config, "--checkpoint-dir", checkpoints(), "--batch-size", "5", "--flush-ms", "50", ...extra];

async function operatorToken(scope: string): Promise<string> {
  const { sandbox: sb } = tenant;
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope }) });
  return ((await res.json()) as { access_token: string }).access_token;
}
async function dv(method: string, p: string, body?: unknown): Promise<void> {
  const res = await fetch(`${tenant.sandbox.dataverse}${DV}${p}`, { method, headers: { authorization: `Bearer ${await operatorToken(`${tenant.sandbox.dataverse}/.default`)}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
}
async function rows(): Promise<Array<Record<string, any>>> {
  return ((await (await fetch(`${tenant.sandbox.dataverse}/_sandbox/tables/fsi_aegdecisionlogs/rows`)).json()) as { value: Array<Record<string, any>> }).value;
}
/** How many rows each of `ids` has. */
async function countsFor(ids: string[]): Promise<number[]> {
  const all = await rows();
  return ids.map((id) => all.filter((r) => r.fsi_correlationid === id).length);
}

/** N calls through the sandbox gateway; returns the correlation ids it echoed. */
async function callGateway(n: number, prefix: string): Promise<string[]> {
  const token = await personaToken(path.join(tenant.cwd, "tenant"), { persona: "alice", audience: APP_ID_URI, version: "v1" });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${++seq}`;
    const res = await fetch(`${tenant.sandbox.gateway}/apim-aeg-sandbox/agents/${KB}`, { method: "POST", headers: { "content-type": "application/json", "x-aeg-correlation-id": id, authorization: `Bearer ${token}` }, body: "{}" });
    expect(res.headers.get("x-aeg-correlation-id")).toBe(id);
    ids.push(id);
  }
  return ids;
}

function producer(): EventHubProducerClient {
  const { sandbox: sb } = tenant;
  return new EventHubProducerClient(FQNS, HUB, new ClientSecretCredential(sb.tenantId, sb.clientId, sb.clientSecret, { authorityHost: sb.authority, disableInstanceDiscovery: true }), { customEndpointAddress: sb.eventHubs });
}

type Summary = { received: number; written: number; poison: number; batches: number; throttled: number; writeMode: string; exitCode: number };
async function drain(...extra: string[]): Promise<{ code: number | null; summary: Summary; stderr: string }> {
  return drainWith([...sinkArgs("--once", "--json"), ...extra]);
}
async function drainWith(args: string[]): Promise<{ code: number | null; summary: Summary; stderr: string }> {
  const r = await runAeg(args, { cwd: tenant.cwd });
  return { code: r.code, summary: r.stdout ? (JSON.parse(r.stdout) as Summary) : ({} as Summary), stderr: r.stderr };
}

/** `n` contract records straight into the hub (the producer spreads them over the partitions); their ids. */
async function produce(n: number, prefix: string): Promise<string[]> {
  const p = producer();
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  let batch = await p.createBatch();
  for (const id of ids) {
    const body = JSON.stringify({ schemaVersion: 1, correlationId: id, decisionTime: new Date().toISOString(), agentId: KB, userObjectId: null, channel: "custom-web", pathway: "none", decision: "Allow", denyReason: "None", anomaly: false, httpStatus: 200, policyVersion: "2026.06.09", gatewayInstance: "e2e" });
    if (batch.tryAdd({ body })) continue;
    await p.sendBatch(batch);
    batch = await p.createBatch();
    batch.tryAdd({ body });
  }
  await p.sendBatch(batch);
  await p.close();
  return ids;
}

/** Dataverse requests as service protection counts them (a bulk request one, each $batch part one). */
const dataverseRequests = async () => ((await (await fetch(`${tenant.sandbox.dataverse}/_sandbox/requests`)).json()) as { total: number; rows: number });
const resetDataverseRequests = () => fetch(`${tenant.sandbox.dataverse}/_sandbox/requests/reset`, { method: "POST" });

beforeAll(async () => {
  tenant = await testTenant();
  config = await configWith(tenant, "decision-log.yaml", (c) => {
    c.dataverse.decisionLog = { enabled: true };
  });
});

afterAll(async () => {
  await tenant.close();
});

describe("the decision-log table", () => {
  it("a table made by hand without a column: doctor reports it (4), setup adds it, doctor is then in sync (0)", async () => {
    await dv("POST", "/EntityDefinitions", tableBody());
    for (const col of DECISION_LOG_COLUMNS.filter((x) => !x.primaryName && x.logicalName !== "fsi_gatewayinstance")) await dv("POST", "/EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Attributes", attributeBody(col));
    await dv("POST", "/EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Keys", keyBody());

    const before = await runAeg(["doctor", "--config", config, "--json"], { cwd: tenant.cwd });
    expect(before.code).toBe(4);
    const step = (JSON.parse(before.stdout) as { steps: Array<{ id: string; status: string; changes: Array<{ action: string; resource: string }> }> }).steps.find((s) => s.id === "decision-log")!;
    expect(step.status).toBe("create");
    expect(step.changes.filter((ch) => ch.action !== "ok")).toEqual([expect.objectContaining({ action: "create", resource: "tables/fsi_aegdecisionlog/columns/fsi_gatewayinstance" })]);

    const setup = await runAeg(["setup", "--skip-validation", "--config", config, "--ci"], { cwd: tenant.cwd });
    expect(setup.code, setup.stderr).toBe(0);
    const after = await runAeg(["doctor", "--config", config, "--json"], { cwd: tenant.cwd });
    expect(after.code, after.stdout).toBe(0);
    // The role step ran after the table existed, so the gateway's role holds Create on it.
    expect(after.stdout).toMatch(/decision-log/);
  });
});

describe("aeg sink", () => {
  it("restarted mid-stream (killed, then restarted) loses and duplicates nothing", async () => {
    const ids = await callGateway(40, "restart");
    // Each Dataverse answer takes 300 ms, so the kill lands while rows are still being written.
    await fetch(`${tenant.sandbox.dataverse}/_sandbox/faults`, { method: "POST", body: JSON.stringify({ mode: "slow", delayMs: 300 }) });
    const first = spawnAeg(sinkArgs(), { cwd: tenant.cwd });
    let stderr = "";
    first.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(async () => ((await countsFor(ids)).filter((n) => n > 0).length >= 10 ? true : undefined), "the first rows", 30_000);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("close", r));
    await fetch(`${tenant.sandbox.dataverse}/_sandbox/faults`, { method: "POST", body: JSON.stringify({ mode: "ok" }) });
    const partial = (await countsFor(ids)).filter((n) => n > 0).length;
    expect(partial, stderr).toBeGreaterThan(0);
    expect(partial).toBeLessThan(ids.length);

    const second = await drain();
    expect(second.code, second.stderr).toBe(0);
    expect(await countsFor(ids)).toEqual(ids.map(() => 1));
    const row = (await rows()).find((r) => r.fsi_correlationid === ids[0])!;
    expect(row).toMatchObject({ fsi_name: ids[0], fsi_agentid: KB, fsi_decision: 100000000, fsi_denyreason: 100000000, fsi_httpstatus: 200, fsi_channel: 100000000 });
    expect(JSON.parse(row.fsi_rawcontext).correlationId).toBe(ids[0]);

    // Drained and checkpointed: a third run finds nothing new.
    const third = await drain();
    expect(third.summary).toMatchObject({ received: 0, written: 0 });
  });

  it("a poison event is skipped, logged and counted; the good ones around it land", async () => {
    const p = producer();
    await p.sendBatch([{ body: "this is { not json" }], { partitionId: "0" });
    await p.close();
    const ids = await callGateway(5, "poison");
    const r = await drain();
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary.poison).toBe(1);
    expect(r.stderr).toMatch(/poison event skipped: partition 0 sequence \d+: not JSON/);
    expect(await countsFor(ids)).toEqual(ids.map(() => 1));
  });

  it("runs until SIGTERM, then writes what it read, checkpoints and exits 0", async () => {
    const child = spawnAeg(sinkArgs(), { cwd: tenant.cwd });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => (/checkpoints in/.test(stderr) ? true : undefined), "the sink to start");
    const ids = await callGateway(5, "live");
    await waitFor(async () => ((await countsFor(ids)).every((n) => n === 1) ? true : undefined), "live rows", 30_000);
    child.kill("SIGTERM");
    const code = await new Promise((resolve) => child.once("close", (c, sig) => resolve(c ?? sig)));
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/sink stopped: received 5, written 5, poison 0/);
  });

  it("a Dataverse 429 storm slows the sink but loses and duplicates nothing", async () => {
    const child = spawnAeg(sinkArgs(), { cwd: tenant.cwd });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => (/checkpoints in/.test(stderr) ? true : undefined), "the sink to start");
    const fault = (mode: string) => fetch(`${tenant.sandbox.dataverse}/_sandbox/faults`, { method: "POST", body: JSON.stringify({ mode, retryAfterSeconds: 1 }) });
    await fault("throttle");
    // The gateway's own reads are throttled too: it answers 503 and still records every decision.
    const ids = await callGateway(12, "storm");
    await waitFor(() => (/throttled a batch/.test(stderr) ? true : undefined), "a throttled batch", 15_000);
    await sleep(1500); // the storm lasts a while: the sink must keep waiting, not give up
    await fault("ok");
    await waitFor(async () => ((await countsFor(ids)).every((n) => n === 1) ? true : undefined), "the rows after the storm", 30_000);
    child.kill("SIGTERM");
    expect(await new Promise((resolve) => child.once("close", (c, sig) => resolve(c ?? sig))), stderr).toBe(0);
    expect(Number(/throttled (\d+)/.exec(stderr)?.[1])).toBeGreaterThan(0);
    expect(await countsFor(ids)).toEqual(ids.map(() => 1));
  });

  it("3,000 records land exactly once, in at most 50 Dataverse requests as service protection counts them", async () => {
    const ids = await produce(3000, "bulk");
    await resetDataverseRequests();
    // Defaults: 1,000 rows per UpsertMultiple, as many at once as x-ms-dop-hint says.
    const r = await drainWith(["sink", "--config", config, "--checkpoint-dir", checkpoints(), "--once", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ received: 3000, written: 3000, poison: 0, writeMode: "UpsertMultiple" });
    const counted = await dataverseRequests();
    expect(counted.total).toBeLessThanOrEqual(50);
    expect(counted.rows).toBe(3000);
    expect(await countsFor(ids)).toEqual(ids.map(() => 1));
  });

  it("where UpsertMultiple is unavailable, the sink falls back to $batch for the run and still writes every record once", async () => {
    const messages = (on: boolean) => fetch(`${tenant.sandbox.dataverse}/_sandbox/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ UpsertMultiple: on }) });
    await messages(false);
    try {
      const ids = await produce(30, "fallback");
      await resetDataverseRequests();
      const r = await drain();
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ received: 30, written: 30, writeMode: "$batch" });
      expect(r.stderr.match(/UpsertMultiple is not available here/g)).toHaveLength(1);
      expect((await dataverseRequests()).total).toBeGreaterThanOrEqual(30); // each $batch part counts
      expect(await countsFor(ids)).toEqual(ids.map(() => 1));
    } finally {
      await messages(true);
    }
  });

  it("refuses to share a checkpoint directory with a running sink (exit 2)", async () => {
    const child = spawnAeg(sinkArgs(), { cwd: tenant.cwd });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => (/checkpoints in/.test(stderr) ? true : undefined), "the sink to start");
    const second = await runAeg(sinkArgs("--once"), { cwd: tenant.cwd });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/another aeg run/);
    child.kill("SIGINT");
    expect(await new Promise((resolve) => child.once("close", resolve))).toBe(0);
  });

  it("a consumer group the hub does not have stops the sink with exit 2, naming where it was set; doctor reports it missing", async () => {
    const exits = async (args: string[]) => {
      const child = spawnAeg(args, { cwd: tenant.cwd });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<number | null>((resolve) => child.once("close", resolve));
      try {
        // Without --once the sink would run for ever: it must stop by itself, and soon.
        await waitFor(() => (child.exitCode ?? undefined), "the sink to stop by itself", 30_000);
        return { code: await closed, stderr };
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    };
    const flag = await exits(sinkArgs("--consumer-group", "not-made"));
    expect(flag.code, flag.stderr).toBe(2);
    expect(flag.stderr).toMatch(/--consumer-group: event hub 'aeg-decisions' has no consumer group 'not-made'/);

    const c = parse(await readFile(config, "utf8")) as Record<string, any>;
    const unmade = path.join(tenant.cwd, "unmade-group.yaml");
    await writeFile(unmade, stringify({ ...c, telemetry: { ...c.telemetry, sinkConsumerGroup: "not-made-yet" } }));
    const configured = await exits(["sink", "--config", unmade, "--checkpoint-dir", path.join(tenant.cwd, "unmade-checkpoints")]);
    expect(configured.code, configured.stderr).toBe(2);
    expect(configured.stderr).toMatch(/telemetry\.sinkConsumerGroup: event hub 'aeg-decisions' has no consumer group 'not-made-yet'/);
    expect(configured.stderr).toMatch(/Run aeg setup to create it/);
    expect(configured.stderr).not.toMatch(/unexpected error|^\s+at /m);

    const doctor = await runAeg(["doctor", "--config", unmade, "--json"], { cwd: tenant.cwd });
    expect(doctor.code, doctor.stdout).toBe(4);
    const telemetry = (JSON.parse(doctor.stdout) as { steps: Array<{ id: string; changes: Array<{ action: string; resource: string }> }> }).steps.find((st) => st.id === "telemetry")!;
    expect(telemetry.changes.filter((ch) => ch.action !== "ok")).toEqual([expect.objectContaining({ action: "create", resource: `namespaces/ehns-aeg-sandbox/eventhubs/${HUB}/consumergroups/not-made-yet` })]);
  });

  it("a --checkpoint-dir that is a file is a usage error naming it (exit 2)", async () => {
    const notADir = path.join(tenant.cwd, "checkpoints-file");
    await writeFile(notADir, "");
    const r = await runAeg(["sink", "--once", "--config", config, "--checkpoint-dir", notADir], { cwd: tenant.cwd });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(notADir);
    expect(r.stderr).not.toMatch(/unexpected error|^\s+at /m);
  });

  it("a sink killed with -9 that stayed a zombie, or a lock naming a recycled pid, does not block the next sink", async () => {
    const lock = path.join(checkpoints(), "sink.lock");
    const sink = await underNonReapingParent(aegArgv(sinkArgs()), { cwd: tenant.cwd, env: aegEnv() });
    const live = await sleeper();
    let dead: TestProcess | undefined;
    try {
      await waitFor(() => (/checkpoints in/.test(sink.stderr()) ? true : undefined), "the sink to start");
      dead = await sink.zombify();
      expect(JSON.parse(await readFile(lock, "utf8"))).toMatchObject({ pid: dead.pid, start: dead.start });
      const after = await drain();
      expect(after.code, after.stderr).toBe(0);
      expect(existsSync(lock)).toBe(false);

      await writeFile(lock, JSON.stringify({ pid: live.pid, host: hostname(), boot: bootId(), start: String(Number(live.start) + 1), since: new Date().toISOString() }));
      const recycled = await drain();
      expect(recycled.code, recycled.stderr).toBe(0);
      expect(existsSync(lock)).toBe(false);
    } finally {
      await Promise.all([dead ? dead.close() : sink.close(), live.close()]);
    }
  });
});
