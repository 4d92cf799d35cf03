import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { aegArgv, aegEnv, runAeg, spawnAeg, testTenant, waitFor, type TestTenant } from "../support/cli.js";
import { bootId, sleeper, underNonReapingParent, type TestProcess } from "../support/processes.js";

const RG = "rg-aeg-sandbox";
const SVC = "apim-aeg-sandbox";

let tenant: TestTenant;

beforeAll(async () => {
  // Long enough an APIM creation that a run can be killed in the middle of it.
  // Fifteen seconds: the re-run must meet the creation still running, even when a loaded machine
  // takes seconds to start the CLI.
  tenant = await testTenant({ apimActivationMs: 15_000 });
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

async function killWhen(condition: () => Promise<boolean>, what: string): Promise<void> {
  const child = spawnAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  await waitFor(async () => ((await condition()) ? true : undefined), what);
  child.kill("SIGKILL");
  expect(await exited).toBe(null);
}

async function exists(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return true;
  } catch {
    return false;
  }
}

async function count<T>(items: AsyncIterable<T>): Promise<number> {
  let n = 0;
  for await (const _ of items) n++;
  return n;
}

describe("a run killed with -9 is finished by running setup again", () => {
  it("while the APIM instance is being created: the re-run waits for it instead of creating another", async () => {
    await killWhen(async () => {
      try {
        const svc = await tenant.apim.apiManagementService.get(RG, SVC);
        return svc.provisioningState !== "Succeeded";
      } catch {
        return false;
      }
    }, "the APIM creation to start");
    const service = await tenant.apim.apiManagementService.get(RG, SVC);
    expect(service.provisioningState).not.toBe("Succeeded");

    const resumed = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci", "--json"], { cwd: tenant.cwd });
    expect(resumed.code).toBe(0);
    const out = JSON.parse(resumed.stdout) as { steps: Array<{ id: string; status: string; changes: Array<{ note?: string }> }> };
    const apim = out.steps.find((s) => s.id === "apim")!;
    expect(apim.changes[0]!.note).toMatch(/still running in Azure/);
    expect(await count(tenant.apim.apiManagementService.listByResourceGroup(RG))).toBe(1);
  });

  it("Ctrl+C says at once that Azure keeps working and how to resume", async () => {
    await tenant.apim.apiManagementService.beginDeleteAndWait(RG, SVC, { updateIntervalInMs: 10 });
    await tenant.apim.deletedServices.beginPurgeAndWait(SVC, "westeurope", { updateIntervalInMs: 10 });
    const child = spawnAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await waitFor(() => (/\[apim\] (Created|Activating)/.test(stderr) ? true : undefined), "the APIM creation to be under way");
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/Interrupted\. Azure keeps working/);
    expect(stderr).toContain(`aeg setup --skip-validation --config ${tenant.configFile} --ci`);
  });

  it("in the middle of the named values, the fragments and the API: no duplicates, then in sync", async () => {
    await tenant.apim.apiManagementService.beginDeleteAndWait(RG, SVC, { updateIntervalInMs: 10 });
    await tenant.apim.deletedServices.beginPurgeAndWait(SVC, "westeurope", { updateIntervalInMs: 10 });

    // Killed after the first named value landed, before the rest.
    await killWhen(() => exists(() => tenant.apim.namedValue.get(RG, SVC, "aeg-tenant-id")), "the first named value");
    // Killed once a fragment exists.
    await killWhen(() => exists(() => tenant.apim.policyFragment.get(RG, SVC, "aeg-validate-jwt")), "the first fragment");
    // Killed once the API exists, before its policies.
    await killWhen(() => exists(() => tenant.apim.api.get(RG, SVC, "aeg-gateway")), "the API");

    const resumed = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
    expect(resumed.stderr).toMatch(/Setup complete|in sync/);
    expect(resumed.code).toBe(0);
    expect((await runAeg(["doctor", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd })).code).toBe(0);

    expect(await count(tenant.apim.apiManagementService.listByResourceGroup(RG))).toBe(1);
    expect(await count(tenant.apim.apiOperation.listByApi(RG, SVC, "aeg-gateway"))).toBe(2);
    const names = [];
    for await (const nv of tenant.apim.namedValue.listByService(RG, SVC)) names.push(nv.displayName);
    expect(names.length).toBe(new Set(names).size);
    expect(names.filter((n) => n?.startsWith("aeg-")).length).toBe(20); // 16 shared + 2 per agent
  });

  it("a run is refused while another live run holds the environment, and a dead run's lock is taken over", async () => {
    const lock = path.join(tenant.cwd, ".aeg", "state", "default.json.lock");
    // This test process stands in for a live run holding the lock.
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    const refused = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`another aeg run \\(pid ${process.pid}\\)`));

    // A pid that cannot be alive: the lock of a run killed with -9.
    await writeFile(lock, JSON.stringify({ pid: 2 ** 22 + 1, host: hostname(), since: new Date().toISOString() }));
    const taken = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
    expect(taken.code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it("a run killed with -9 that stayed a zombie does not block the next run, nor does a recycled pid", async () => {
    const lock = path.join(tenant.cwd, ".aeg", "state", "default.json.lock");
    const args = ["setup", "--skip-validation", "--config", tenant.configFile, "--ci"];
    // A real run under a parent that never reaps (a container without an init), killed with -9.
    const run = await underNonReapingParent(aegArgv(args), { cwd: tenant.cwd, env: aegEnv() });
    const live = await sleeper();
    let dead: TestProcess | undefined;
    try {
      await waitFor(() => (existsSync(lock) ? true : undefined), "the run to take its lock");
      dead = await run.zombify();
      expect(JSON.parse(await readFile(lock, "utf8"))).toMatchObject({ pid: dead.pid, start: dead.start });
      const after = await runAeg(args, { cwd: tenant.cwd });
      expect(after.code, after.stderr).toBe(0);
      expect(existsSync(lock)).toBe(false);

      // The pid now belongs to another, live process: its start time is not the recorded one.
      const naming = (start: string) => JSON.stringify({ pid: live.pid, host: hostname(), boot: bootId(), start, since: new Date().toISOString() });
      await writeFile(lock, naming(String(Number(live.start) + 1)));
      const recycled = await runAeg(args, { cwd: tenant.cwd });
      expect(recycled.code, recycled.stderr).toBe(0);

      // The same process with its own start time is a live holder: refused.
      await writeFile(lock, naming(live.start));
      const refused = await runAeg(args, { cwd: tenant.cwd });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`another aeg run (pid ${live.pid}) is using default`);
    } finally {
      await rm(lock, { force: true });
      await Promise.all([dead ? dead.close() : run.close(), live.close()]);
    }
  });
});
