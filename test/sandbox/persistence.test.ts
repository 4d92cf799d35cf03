// State on disk: the same state directory gives the same tenant, CA and resources across runs;
// APIM activation is time-based against the creation time stored on disk; one sandbox per dir.
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { resetSandbox, startSandbox } from "../../sandbox/index.js";
import { runningServer } from "../../sandbox/governance/discovery.js";
import { bootId, sleeper, zombie } from "../support/processes.js";
import { armFetch, clients, startTestSandbox, tempDir, until } from "../support/sandbox.js";

const service = (sub: string, name: string) => `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ApiManagement/service/${name}?api-version=2024-05-01`;
const body = { location: "westeurope", sku: { name: "Developer", capacity: 1 }, properties: { publisherEmail: "a@b.c", publisherName: "x" }, identity: { type: "SystemAssigned" } };

describe("persistence", () => {
  test("same tenant, CA, credentials and resources after close/start", async () => {
    const { sb, dir, traffic } = await startTestSandbox();
    const ca = fs.readFileSync(sb.caFile, "utf8");
    await clients(sb).resources.resourceGroups.createOrUpdate("rg", { location: "westeurope" });
    const first = { tenantId: sb.tenantId, subscriptionId: sb.subscriptionId, clientId: sb.clientId, clientSecret: sb.clientSecret, readerClientId: sb.readerClientId };
    await sb.close();

    const again = await startSandbox({ stateDir: dir, trafficFile: traffic });
    try {
      expect(fs.readFileSync(again.caFile, "utf8")).toBe(ca);
      expect({ tenantId: again.tenantId, subscriptionId: again.subscriptionId, clientId: again.clientId, clientSecret: again.clientSecret, readerClientId: again.readerClientId }).toEqual(first);
      // Endpoints stay where they were, so URLs stored in policies (named values) stay valid.
      expect({ arm: again.arm, authority: again.authority, gateway: again.gateway }).toEqual({ arm: sb.arm, authority: sb.authority, gateway: sb.gateway });
      expect((await clients(again).resources.resourceGroups.get("rg")).location).toBe("westeurope");
    } finally {
      await again.close();
    }
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"));
    expect(state.tenantId).toBe(first.tenantId);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("an APIM creation in flight at close is still activating on restart, and done once its time has passed", async () => {
    const { sb, dir } = await startTestSandbox({ apimActivationMs: 60_000 });
    await clients(sb).resources.resourceGroups.createOrUpdate("rg", { location: "westeurope" });
    expect((await armFetch(sb, "PUT", service(sb.subscriptionId, "slow"), body)).status).toBe(201);
    await sb.close();
    const again = await startSandbox({ stateDir: dir, apimActivationMs: 1 }); // a new option doesn't shorten a creation already stored
    try {
      const got = await armFetch(again, "GET", service(again.subscriptionId, "slow"));
      expect(["Created", "Activating"]).toContain(got.json.properties.provisioningState);
      expect(got.json.identity.principalId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await again.close();
    }

    const quick = await startSandbox({ stateDir: dir, apimActivationMs: 150 });
    const created = Date.now();
    expect((await armFetch(quick, "PUT", service(quick.subscriptionId, "quick"), body)).status).toBe(201);
    await quick.close();
    await until(async () => Date.now() > created + 200, 5_000); // Azure keeps working while no sandbox runs
    const later = await startSandbox({ stateDir: dir });
    try {
      expect((await armFetch(later, "GET", service(later.subscriptionId, "quick"))).json.properties.provisioningState).toBe("Succeeded");
    } finally {
      await later.close();
    }
  });

  test("one sandbox per state directory; a lock left by a dead process is taken over", async () => {
    const { sb, dir } = await startTestSandbox();
    await expect(startSandbox({ stateDir: dir })).rejects.toThrow(/in use by another sandbox/);
    await expect(resetSandbox(dir)).rejects.toThrow(/in use by another sandbox/);
    await sb.close();

    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    fs.writeFileSync(path.join(dir, "sandbox.lock"), String(dead));
    const again = await startSandbox({ stateDir: dir });
    await again.close();
    expect(fs.existsSync(path.join(dir, "sandbox.lock"))).toBe(false);
  });

  test("a lock held by a zombie or a recycled pid is taken over; a live holder still refuses", async () => {
    const dir = tempDir();
    const [dead, live] = await Promise.all([zombie(), sleeper()]);
    const lock = path.join(dir, "sandbox.lock");
    try {
      // A sandbox killed with -9 under a PID 1 that never reaps: kill(pid, 0) still succeeds.
      fs.writeFileSync(lock, JSON.stringify({ pid: dead.pid, boot: bootId(), start: dead.start }));
      fs.writeFileSync(path.join(dir, "server.json"), JSON.stringify({ pid: dead.pid, authority: "https://127.0.0.1:1", caFile: "x" }));
      expect(runningServer(dir)).toBeUndefined();
      await (await startSandbox({ stateDir: dir })).close();
      // The old lock format, a bare pid, naming the zombie.
      fs.writeFileSync(lock, String(dead.pid));
      await (await startSandbox({ stateDir: dir })).close();
      // The pid now belongs to another process: its start time differs from the one recorded.
      fs.writeFileSync(lock, JSON.stringify({ pid: live.pid, boot: bootId(), start: String(Number(live.start) + 1) }));
      await (await startSandbox({ stateDir: dir })).close();
      expect(fs.existsSync(lock)).toBe(false);

      fs.writeFileSync(lock, JSON.stringify({ pid: live.pid, boot: bootId(), start: live.start }));
      await expect(startSandbox({ stateDir: dir })).rejects.toThrow(`in use by another sandbox (process ${live.pid})`);
      await expect(resetSandbox(dir)).rejects.toThrow(/in use by another sandbox/);
    } finally {
      await Promise.all([dead.close(), live.close()]);
    }
  });

  test("resetSandbox clears the tenant, CA and keys", async () => {
    const dir = tempDir();
    const a = await startSandbox({ stateDir: dir });
    const ca = fs.readFileSync(a.caFile, "utf8");
    await a.close();
    fs.writeFileSync(path.join(dir, "user-file.txt"), "not ours");
    await resetSandbox(dir);
    expect(fs.readdirSync(dir)).toEqual(["user-file.txt"]);
    const b = await startSandbox({ stateDir: dir });
    try {
      expect(b.tenantId).not.toBe(a.tenantId);
      expect(fs.readFileSync(b.caFile, "utf8")).not.toBe(ca);
    } finally {
      await b.close();
    }
  });
});
