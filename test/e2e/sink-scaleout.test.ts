// `aeg sink` scaled out: two built CLI processes on the sandbox's blob checkpoint store (Azurite)
// share one hub of four partitions through Event Hubs' load balancing. One is killed with -9 in
// the middle of a stream; the other takes its partitions over once their claims expire, and every
// record lands in fsi_aegdecisionlog exactly once (rows counted per correlation id through the
// sandbox's admin read). A restarted instance rejoins: it takes partitions back and writes.
import type { ChildProcess } from "node:child_process";
import { EventHubProducerClient } from "@azure/event-hubs";
import { ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attributeBody, DECISION_LOG_COLUMNS, keyBody, tableBody } from "../../src/dataverse/decision-log-table.js";
import { configWith, runAeg, spawnAeg, testTenant, waitFor, type TestTenant } from "../support/cli.js";
import { clients, credential, FAST } from "../support/sandbox.js";

const RG = "rg-aeg-sandbox";
const NS = "ehns-aeg-sandbox";
const HUB = "aeg-decisions";
const FQNS = `${NS}.servicebus.windows.net`;
const PARTITIONS = ["0", "1", "2", "3"];
const DV = "/api/data/v9.2";
/** Short claims so a takeover takes seconds (the sink's default is 30 s). */
const EXPIRY_MS = 6000;
/** What a loaded test machine may add to the expiry before the orphaned partitions are written. */
const MARGIN_MS = 40_000;

let tenant: TestTenant;
let config: string;
const running: SinkProcess[] = [];

async function dv(method: string, p: string, body?: unknown): Promise<void> {
  const { token } = await credential(tenant.sandbox).getToken(`${tenant.sandbox.dataverse}/.default`);
  const res = await fetch(`${tenant.sandbox.dataverse}${DV}${p}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
}

/** How many rows each of `ids` has. */
async function countsFor(ids: string[]): Promise<number[]> {
  const { value } = (await (await fetch(`${tenant.sandbox.dataverse}/_sandbox/tables/fsi_aegdecisionlogs/rows`)).json()) as { value: Array<{ fsi_correlationid: string }> };
  const n = new Map<string, number>();
  for (const r of value) n.set(r.fsi_correlationid, (n.get(r.fsi_correlationid) ?? 0) + 1);
  return ids.map((id) => n.get(id) ?? 0);
}

/** `n` contract records, spread by the hub over its partitions (round robin); their correlation ids. */
async function produce(n: number, prefix: string): Promise<string[]> {
  const { sandbox: sb } = tenant;
  const p = new EventHubProducerClient(FQNS, HUB, credential(sb), { customEndpointAddress: sb.eventHubs });
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  // One send per record: the hub spreads sends, not the records inside one batch.
  for (const id of ids) {
    await p.sendBatch([{ body: JSON.stringify({ schemaVersion: 1, correlationId: id, decisionTime: new Date().toISOString(), agentId: "contoso-kb-assistant", userObjectId: null, channel: "custom-web", pathway: "none", decision: "Allow", denyReason: "None", anomaly: false, httpStatus: 200, policyVersion: "2026.06.09", gatewayInstance: "e2e" }) }]);
  }
  await p.close();
  return ids;
}

const fault = (mode: "slow" | "ok") => fetch(`${tenant.sandbox.dataverse}/_sandbox/faults`, { method: "POST", body: JSON.stringify(mode === "slow" ? { mode, delayMs: 300 } : { mode }) });

/** One `aeg sink` process on the shared store, and the partitions it says it reads. */
class SinkProcess {
  readonly child: ChildProcess;
  stderr = "";
  readonly closed: Promise<number | string | null>;

  constructor(readonly name: string) {
    this.child = spawnAeg(["sink", "--config", config, "--checkpoint-store", tenant.sandbox.checkpointStore, "--batch-size", "5", "--flush-ms", "50"], {
      cwd: tenant.cwd,
      env: { AEG_SINK_OWNERSHIP_EXPIRY_MS: String(EXPIRY_MS) },
    });
    running.push(this);
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.closed = new Promise((resolve) => this.child.once("close", (code, signal) => resolve(code ?? signal)));
  }

  /** Partitions it reads now, from its "partition N: reading" / "released" lines. */
  get reading(): Set<string> {
    const owned = new Set<string>();
    for (const m of this.stderr.matchAll(/partition (\S+): (reading|released)/g)) {
      if (m[2] === "reading") owned.add(m[1]!);
      else owned.delete(m[1]!);
    }
    return owned;
  }

  async stop(): Promise<number | string | null> {
    this.child.kill("SIGTERM");
    return this.closed;
  }
}

/** The owner of each partition in the store's ownership blobs (what the instances agreed on). */
async function ownersInStore(): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  const c = new ContainerClient(tenant.sandbox.checkpointStore, credential(tenant.sandbox));
  for await (const b of c.listBlobsFlat({ includeMetadata: true })) {
    const m = /\/ownership\/([^/]+)$/.exec(b.name);
    if (m && b.metadata?.["ownerid"]) owners.set(m[1]!, b.metadata["ownerid"]);
  }
  return owners;
}

beforeAll(async () => {
  tenant = await testTenant();
  config = await configWith(tenant, "decision-log.yaml", (c) => {
    c.dataverse.decisionLog = { enabled: true };
  });
  // Only what the sink reads and writes: the hub (four partitions) with the sink's consumer group
  // (setup's, by default aeg-sink), and the table with its key.
  const arm = clients(tenant.sandbox);
  await arm.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
  await arm.eventHub.namespaces.beginCreateOrUpdateAndWait(RG, NS, { location: "westeurope", sku: { name: "Standard", tier: "Standard", capacity: 1 } }, FAST);
  await arm.eventHub.eventHubs.createOrUpdate(RG, NS, HUB, { partitionCount: PARTITIONS.length });
  await arm.eventHub.consumerGroups.createOrUpdate(RG, NS, HUB, "aeg-sink", {});
  await dv("POST", "/EntityDefinitions", tableBody());
  for (const col of DECISION_LOG_COLUMNS.filter((x) => !x.primaryName)) await dv("POST", "/EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Attributes", attributeBody(col));
  await dv("POST", "/EntityDefinitions(LogicalName='fsi_aegdecisionlog')/Keys", keyBody());
});

afterAll(async () => {
  for (const { child } of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await tenant?.close();
});

describe("aeg sink --checkpoint-store: several instances", () => {
  it("share the partitions; one killed with -9 is taken over, every record lands exactly once; a restarted one rejoins", { timeout: 300_000 }, async ({ onTestFailed }) => {
    // What each sink said, when something went wrong.
    onTestFailed(() => {
      for (const p of running) console.error(`--- aeg sink ${p.name} ---\n${p.stderr}`);
    });
    const a = new SinkProcess("a");
    const b = new SinkProcess("b");
    // Both read, between them every partition, none twice (Azurite starts on the first request).
    await waitFor(
      () => {
        const [ra, rb] = [a.reading, b.reading];
        const both = [...ra].filter((p) => rb.has(p));
        return ra.size > 0 && rb.size > 0 && ra.size + rb.size === PARTITIONS.length && both.length === 0 ? true : undefined;
      },
      "the two sinks to share the partitions",
      60_000,
    );
    const aPartitions = [...a.reading];

    // Slow Dataverse answers keep rows in flight, so the kill lands mid-stream.
    await fault("slow");
    const first = await produce(80, "scale");
    await waitFor(async () => ((await countsFor(first)).filter((n) => n > 0).length >= 10 ? true : undefined), "the first rows", 30_000);
    a.child.kill("SIGKILL");
    const killedAt = Date.now();
    await a.closed;
    await fault("ok");
    // Half of these go to A's partitions, which only a takeover can write.
    const afterKill = await produce(20, "orphan");
    const all = [...first, ...afterKill];

    // A's claims expire and B takes its partitions over: everything lands, each row once.
    await waitFor(async () => ((await countsFor(all)).every((n) => n > 0) ? true : undefined), "every record after the takeover", killedAt + EXPIRY_MS + MARGIN_MS - Date.now());
    expect(await countsFor(all)).toEqual(all.map(() => 1));
    expect([...b.reading].sort()).toEqual(PARTITIONS);
    for (const p of aPartitions) expect(b.stderr).toMatch(new RegExp(`partition ${p}: reading`));

    // A restarted instance rejoins: it takes its share back from B, which lets go of it.
    const lostBefore = b.stderr.match(/released \(OwnershipLost\)/g)?.length ?? 0;
    const a2 = new SinkProcess("a2");
    await waitFor(() => (a2.reading.size >= 1 && b.reading.size < PARTITIONS.length ? true : undefined), "the restarted sink to rejoin", 60_000);
    expect(b.stderr.match(/released \(OwnershipLost\)/g)?.length ?? 0).toBeGreaterThan(lostBefore);
    const ownerOf = (p: SinkProcess) => /\(owner (\S+)\)/.exec(p.stderr)?.[1];
    // The claims settle on the live instances. A claim of the killed one may still be there for a
    // while: two instances that started together can both claim a never-owned partition (the
    // checkpoint store claims it without If-None-Match), and the later write names the one that
    // then lost the partition; the claim goes once it expires and a live instance takes it.
    const live = new Set([ownerOf(a2), ownerOf(b)]);
    const owners = await waitFor(async () => {
      const o = await ownersInStore();
      const ids = [...o.values()];
      return o.size === PARTITIONS.length && ids.includes(ownerOf(a2)!) && ids.every((id) => live.has(id)) ? o : undefined;
    }, "the claims to settle on the restarted sink and B", EXPIRY_MS + MARGIN_MS);
    expect([...owners.keys()].sort()).toEqual(PARTITIONS);
    expect(new Set(owners.values())).toEqual(new Set([ownerOf(a2), ownerOf(b)]));
    const later = await produce(20, "rejoined");
    await waitFor(async () => ((await countsFor(later)).every((n) => n > 0) ? true : undefined), "the records after the rejoin", 30_000);
    expect(await countsFor([...all, ...later])).toEqual([...all, ...later].map(() => 1));

    // Clean stops give the partitions up and exit 0; the rejoined instance wrote its share.
    expect(await a2.stop(), a2.stderr).toBe(0);
    expect(await b.stop(), b.stderr).toBe(0);
    expect(Number(/sink stopped: received \d+, written (\d+)/.exec(a2.stderr)?.[1])).toBeGreaterThan(0);
  });

  it("--once with the shared store drains what the hub holds and exits", async () => {
    const ids = await produce(8, "once");
    const r = await runAeg(["sink", "--config", config, "--checkpoint-store", tenant.sandbox.checkpointStore, "--once", "--json", "--flush-ms", "50"], { cwd: tenant.cwd, env: { AEG_SINK_OWNERSHIP_EXPIRY_MS: String(EXPIRY_MS) } });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { received: number; written: number; poison: number };
    // At least the new records (a checkpoint set back by a late writer would add a harmless replay).
    expect(summary.received).toBeGreaterThanOrEqual(8);
    expect(summary).toMatchObject({ written: summary.received, poison: 0 });
    expect(await countsFor(ids)).toEqual(ids.map(() => 1));
  });

  it("refuses --checkpoint-store beside --checkpoint-dir, and a container that does not exist (exit 2)", async () => {
    const both = await runAeg(["sink", "--config", config, "--checkpoint-store", tenant.sandbox.checkpointStore, "--checkpoint-dir", "x", "--once"], { cwd: tenant.cwd });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/checkpoint-dir/);
    const missing = tenant.sandbox.checkpointStore.replace(/[^/]+$/, "no-such-container");
    const r = await runAeg(["sink", "--config", config, "--checkpoint-store", missing, "--once"], { cwd: tenant.cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no such container: ${missing}`);
  });
});
