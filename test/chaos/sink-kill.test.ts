// `aeg sink` killed with -9 while it writes, again and again, with new decision records arriving
// between restarts: in the end every record is one row of fsi_aegdecisionlog, none twice. Dataverse
// answers slowly during the killed runs so each kill lands while batches are in flight. Default:
// two kills; AEG_CHAOS=full: five.
import { EventHubProducerClient } from "@azure/event-hubs";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { spawnAeg, runAeg, waitFor } from "../support/cli.js";
import { FULL, HUB, NAMESPACE, chaosTenant, report, setup, type ChaosTenant } from "../support/chaos.js";

const KILLS = FULL ? 5 : 2;
const PER_ROUND = 40;

let t: ChaosTenant;
const checkpoints = () => path.join(t.cwd, "sink-checkpoints");
const sinkArgs = (...extra: string[]) => ["sink", "--config", t.config, "--checkpoint-dir", checkpoints(), "--batch-size", "5", "--flush-ms", "50", ...extra];

beforeAll(async () => {
  t = await chaosTenant();
  const run = await setup(t);
  expect(run.code, run.stderr).toBe(0);
});

afterAll(async () => {
  await t?.close();
});

/** Contract records (schema version 1) straight into the hub, spread over its partitions. */
async function produce(ids: string[]): Promise<void> {
  const sb = t.sandbox;
  const producer = new EventHubProducerClient(`${NAMESPACE}.servicebus.windows.net`, HUB, new ClientSecretCredential(sb.tenantId, sb.clientId, sb.clientSecret, { authorityHost: sb.authority, disableInstanceDiscovery: true }), { customEndpointAddress: sb.eventHubs });
  try {
    const partitions = await producer.getPartitionIds();
    for (const [p, partitionId] of partitions.entries()) {
      const mine = ids.filter((_, i) => i % partitions.length === p);
      if (mine.length === 0) continue;
      const batch = await producer.createBatch({ partitionId });
      for (const id of mine) {
        const record = { schemaVersion: 1, correlationId: id, decisionTime: new Date().toISOString(), agentId: "contoso-kb-assistant", userObjectId: null, channel: "custom-web", pathway: "api-direct", decision: "Allow", denyReason: "None", httpStatus: 200, anomaly: false, policyVersion: "2026.06.09", gatewayInstance: "chaos" };
        expect(batch.tryAdd({ body: JSON.stringify(record) })).toBe(true);
      }
      await producer.sendBatch(batch);
    }
  } finally {
    await producer.close();
  }
}

async function rowsById(): Promise<Map<string, number>> {
  const res = await fetch(`${t.sandbox.dataverse}/_sandbox/tables/fsi_aegdecisionlogs/rows`);
  const { value } = (await res.json()) as { value: Array<{ fsi_correlationid: string }> };
  const counts = new Map<string, number>();
  for (const r of value) counts.set(r.fsi_correlationid, (counts.get(r.fsi_correlationid) ?? 0) + 1);
  return counts;
}

const slowDataverse = (on: boolean) =>
  fetch(`${t.sandbox.dataverse}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(on ? { mode: "slow", delayMs: 150 } : { mode: "ok" }) });

describe("aeg sink killed with -9 while writing", () => {
  it(`loses and duplicates nothing across ${KILLS} kills and restarts`, { timeout: 120_000 + KILLS * 60_000 }, async () => {
    const all: string[] = [];
    const kills: Array<{ round: number; landedBefore: number; landedAtKill: number; produced: number; killed: boolean }> = [];
    for (let round = 1; round <= KILLS; round++) {
      const ids = Array.from({ length: PER_ROUND }, (_, i) => `chaos-sink-${round}-${i}`);
      await produce(ids);
      all.push(...ids);
      const landedBefore = [...(await rowsById()).keys()].filter((id) => all.includes(id)).length;
      await slowDataverse(true);
      const child = spawnAeg(sinkArgs(), { cwd: t.cwd });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("close", (code, signal) => resolve(signal ?? code)));
      // Kill once this round's records have started landing, well before all of them have.
      const target = landedBefore + Math.ceil(PER_ROUND / 3);
      const landedAtKill = await waitFor(async () => {
        const n = [...(await rowsById()).keys()].filter((id) => all.includes(id)).length;
        return n >= target ? n : undefined;
      }, `${target} rows in round ${round}`, 60_000);
      child.kill("SIGKILL");
      const ended = await exited;
      await slowDataverse(false);
      kills.push({ round, landedBefore, landedAtKill, produced: all.length, killed: ended === "SIGKILL" });
      expect(ended, stderr).toBe("SIGKILL");
      expect(landedAtKill, "killed while rows were still to be written").toBeLessThan(all.length);
    }

    // The last restart drains what is left.
    const drain = await runAeg(sinkArgs("--once", "--json"), { cwd: t.cwd });
    expect(drain.code, drain.stderr).toBe(0);
    const counts = await rowsById();
    const missing = all.filter((id) => !counts.has(id));
    const twice = all.filter((id) => (counts.get(id) ?? 0) > 1);
    await report("sink-kill", kills, { records: all.length, missing: missing.length, duplicates: twice.length, drained: JSON.parse(drain.stdout) });
    expect(missing).toEqual([]);
    expect(twice).toEqual([]);
  });
});
