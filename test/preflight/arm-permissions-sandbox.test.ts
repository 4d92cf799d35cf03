// The permission check against a sandbox tenant, in-process: a fresh setup planned for the
// Contributor-only identity misses exactly the role assignment on the hub, the Owner misses
// nothing, and checking writes nothing. Every ARM exchange goes through the fidelity gate.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { NO_SOFT_DELETE_CHOICE } from "../../src/app/engine.js";
import { openSession, type Session } from "../../src/app/session.js";
import type { StepReport } from "../../src/engine/change.js";
import { Engine } from "../../src/engine/runner.js";
import { ExitCode } from "../../src/errors.js";
import { ARM_WRITES } from "../../src/preflight/arm-actions.js";
import { missingArmPermissions, permissionRefusal, requiredArmActions, type MissingPermission } from "../../src/preflight/arm-permissions.js";
import { loadTemplates } from "../../src/policy/templates.js";
import { SilentReporter } from "../../src/render/reporters.js";
import { SETUP_STEPS } from "../../src/steps/index.js";
import { testTenant, type TestTenant } from "../support/cli.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { ARM_SCOPE, credential } from "../support/sandbox.js";

const USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";

let tenant: TestTenant;
const sessions: Session[] = [];

beforeAll(async () => {
  tenant = await testTenant({ apimActivationMs: 300 });
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await tenant?.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

/** A session signed in as one of the sandbox's applications, from an aeg.yaml as a user writes it. */
async function sessionAs(who: "operator" | "contributor"): Promise<Session> {
  let file = tenant.configFile;
  if (who === "contributor") {
    const secretFile = path.join(tenant.cwd, "contributor.secret");
    await writeFile(secretFile, tenant.sandbox.contributorClientSecret, { mode: 0o600 });
    const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
    config.auth = { clientId: tenant.sandbox.contributorClientId, clientSecretFile: secretFile };
    file = path.join(tenant.cwd, "contributor.yaml");
    await writeFile(file, stringify(config));
  }
  const session = await openSession({ config: file }, { lock: false, cwd: tenant.cwd });
  sessions.push(session);
  return session;
}

/**
 * The setup engine over the ARM steps only. The contributor is no one in the governance store's
 * Dataverse, so the Dataverse steps could not even be read for it; they have their own preflight.
 */
async function armEngine(session: Session): Promise<Engine> {
  const { config, arm, identity } = session;
  return new Engine(
    SETUP_STEPS.filter((s) => s.id in ARM_WRITES),
    {
      config,
      cloud: session.cloud,
      templates: await loadTemplates(session.templatesDir),
      clients: { credential: session.credential, apim: arm.apim, eventHub: arm.eventHub, authorization: arm.authorization, resources: arm.resources, graph: identity.graph, dataverse: identity.dataverse(config.dataverse.url) },
      journal: session.journal,
      pollIntervalMs: session.pollIntervalMs,
      signal: new AbortController().signal,
      options: NO_SOFT_DELETE_CHOICE,
    },
    new SilentReporter(),
  );
}

const depsOf = (s: Session) => ({ clients: { authorization: s.arm.authorization, credential: s.credential }, cloud: s.cloud, config: s.config });

/** Checks a plan for a session, and that checking wrote nothing (by the client's and the sandbox's count). */
async function check(session: Session, plan: StepReport[]): Promise<MissingPermission[]> {
  await tenant.resetCounters();
  const before = session.arm.counter.writes;
  const missing = await missingArmPermissions(depsOf(session), requiredArmActions(plan, session.config));
  expect(session.arm.counter.writes).toBe(before);
  expect(await tenant.armWrites()).toBe(0);
  return missing;
}

function namespaceOf(s: Session): string {
  const { subscriptionId, resourceGroup, telemetry } = s.config;
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.EventHub/namespaces/${telemetry.namespace}`;
}
const hubOf = (s: Session) => `${namespaceOf(s)}/eventhubs/${s.config.telemetry.eventHub}`;

describe("permissions checked before any write, on a fresh tenant", () => {
  it("the Contributor-only identity misses the role assignment on the hub, and nothing a Contributor has", async () => {
    const session = await sessionAs("contributor");
    const plan = await (await armEngine(session)).plan();
    const needed = requiredArmActions(plan, session.config);
    expect(needed.map((n) => n.action)).toContain("Microsoft.Resources/subscriptions/resourceGroups/write");
    expect(needed.length).toBeGreaterThan(10);

    const missing = await check(session, plan);
    expect(missing).toEqual([{ step: "telemetry", scope: hubOf(session), action: "Microsoft.Authorization/roleAssignments/write", grantedBy: "User Access Administrator" }]);
    const refusal = permissionRefusal(missing);
    expect(refusal.exitCode).toBe(ExitCode.auth);
    expect(refusal.message).toContain(`telemetry: Microsoft.Authorization/roleAssignments/write at ${hubOf(session)} (granted by User Access Administrator)`);
    expect(refusal.message).not.toContain(tenant.sandbox.contributorClientSecret);
  });

  it("the Owner passes with nothing missing", async () => {
    const session = await sessionAs("operator");
    const plan = await (await armEngine(session)).plan();
    expect(requiredArmActions(plan, session.config).length).toBeGreaterThan(10);
    expect(await check(session, plan)).toEqual([]);
  });
});

describe("permissions checked before any write, on a tenant set up", () => {
  it("asks at the existing scopes: the contributor may update the instance's children, and assign roles only where it was made able to", async () => {
    const owner = await sessionAs("operator");
    const applied = await (await armEngine(owner)).apply(await (await armEngine(owner)).plan());
    expect(applied.filter((r) => r.status === "failed")).toEqual([]);

    // Drift someone made by hand: the contributor's plan updates a named value, which it may.
    const { resourceGroup, apim } = owner.config;
    await tenant.apim.namedValue.beginCreateOrUpdateAndWait(resourceGroup, apim.name, "aeg-channel", { displayName: "aeg-channel", value: "changed by hand" }, { updateIntervalInMs: 10 });
    const session = await sessionAs("contributor");
    const plan = await (await armEngine(session)).plan();
    expect(requiredArmActions(plan, session.config).map((n) => n.action)).toEqual(["Microsoft.ApiManagement/service/namedValues/write"]);
    expect(await check(session, plan)).toEqual([]);

    // A role on the hub alone (below the subscription) counts at the hub, not at the namespace.
    const roleOnHub = [{ step: "telemetry" as const, scope: hubOf(session), action: "Microsoft.Authorization/roleAssignments/write" }];
    const onNamespace = [{ ...roleOnHub[0]!, scope: namespaceOf(session) }];
    expect(await missingArmPermissions(depsOf(session), roleOnHub)).toHaveLength(1);
    const oid = String(decodeJwt((await credential(tenant.sandbox, "contributor").getToken(ARM_SCOPE)).token)["oid"]);
    const name = "6f2d9c3b-4a5e-4f80-9b12-c3d4e5f6a7b8";
    await owner.arm.authorization.roleAssignments.create(hubOf(session), name, {
      roleDefinitionId: `/subscriptions/${owner.config.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${USER_ACCESS_ADMINISTRATOR}`,
      principalId: oid,
      principalType: "ServicePrincipal",
    });
    try {
      // A fresh session: a check reads live state each time, nothing is cached across runs.
      const again = await sessionAs("contributor");
      expect(await missingArmPermissions(depsOf(again), roleOnHub)).toEqual([]);
      expect(await missingArmPermissions(depsOf(again), onNamespace)).toHaveLength(1);
    } finally {
      await owner.arm.authorization.roleAssignments.delete(hubOf(session), name);
    }
  });
});
