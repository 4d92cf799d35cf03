// The sandbox as Azure RBAC: the seed's three applications, the permissions API and role
// definitions computed from role assignments, and enforcement on writes with ARM's 403.
import fs from "node:fs";
import path from "node:path";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startSandbox, type Sandbox } from "../../sandbox/index.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { ARM_SCOPE, FAST, armFetch, clients, credential, restError, startTestSandbox, tempDir, type SandboxApp } from "../support/sandbox.js";

const RG = "rg-rbac";
const SVC = "apim-rbac";
const NS = "ehns-rbac";
const HUB = "decisions";
const LOCATION = "West Europe";
const OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
const DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";
const CONTRIBUTOR_NOT_ACTIONS = [
  "Microsoft.Authorization/*/Delete",
  "Microsoft.Authorization/*/Write",
  "Microsoft.Authorization/elevateAccess/Action",
  "Microsoft.Blueprint/blueprintAssignments/write",
  "Microsoft.Blueprint/blueprintAssignments/delete",
  "Microsoft.Compute/galleries/share/action",
  "Microsoft.Purview/consents/write",
  "Microsoft.Purview/consents/delete",
  "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
  "Microsoft.Subscription/cancel/action",
  "Microsoft.Subscription/enable/action",
];

let sb: Sandbox;
let traffic: string;
const trafficFiles: string[] = [];
let operator: ReturnType<typeof clients>;
let contributor: ReturnType<typeof clients>;
let reader: ReturnType<typeof clients>;

beforeAll(async () => {
  ({ sb, traffic } = await startTestSandbox({ apimActivationMs: 200 }));
  trafficFiles.push(traffic);
  operator = clients(sb);
  contributor = clients(sb, "contributor");
  reader = clients(sb, "reader");
});
afterAll(async () => {
  await sb?.close();
});

const sub = () => `/subscriptions/${sb.subscriptionId}`;
const rg = () => `${sub()}/resourceGroups/${RG}`;
const nsId = () => `${rg()}/providers/Microsoft.EventHub/namespaces/${NS}`;
const hubId = () => `${nsId()}/eventhubs/${HUB}`;
const roleDefinitionId = (guid: string) => `${sub()}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;

async function token(who: SandboxApp): Promise<string> {
  return (await credential(sb, who).getToken(ARM_SCOPE)).token;
}
async function objectId(who: SandboxApp): Promise<string> {
  return String(decodeJwt(await token(who))["oid"]);
}
const permissions = async (who: SandboxApp, scope: string) => armFetch(sb, "GET", `${scope}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`, undefined, await token(who));
const denial = (clientId: string, oid: string, action: string, scope: string) =>
  `The client '${clientId}' with object id '${oid}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`;

describe("the seed", () => {
  test("operator Owner, reader Reader, contributor Contributor, each on the subscription and nothing else", async () => {
    for (const [who, role] of [["operator", OWNER], ["reader", READER], ["contributor", CONTRIBUTOR]] as const) {
      const oid = await objectId(who);
      const held = [];
      for await (const a of operator.authorization.roleAssignments.listForSubscription({ filter: `assignedTo('${oid}')` })) held.push([a.scope, a.roleDefinitionId]);
      expect(held).toEqual([[sub(), roleDefinitionId(role)]]);
    }
    expect(sb.contributorClientId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set([sb.clientId, sb.readerClientId, sb.contributorClientId]).size).toBe(3);
  });
});

describe("the permissions API", () => {
  test("at a resource group: one entry per assignment of the caller at or above it", async () => {
    expect((await permissions("contributor", rg())).json.error.code).toBe("ResourceGroupNotFound");
    await operator.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
    const entries = async (client: ReturnType<typeof clients>) => {
      const out = [];
      for await (const p of client.authorization.permissions.listForResourceGroup(RG)) out.push(p);
      return out;
    };
    expect(await entries(operator)).toEqual([{ actions: ["*"], notActions: [], dataActions: [], notDataActions: [] }]);
    expect(await entries(reader)).toEqual([{ actions: ["*/read"], notActions: [], dataActions: [], notDataActions: [] }]);
    expect(await entries(contributor)).toEqual([{ actions: ["*"], notActions: CONTRIBUTOR_NOT_ACTIONS, dataActions: [], notDataActions: [] }]);
  });

  test("at a resource, existing or not yet: what its ancestors grant", async () => {
    const answer = await permissions("contributor", hubId());
    expect(answer.status).toBe(200);
    expect(answer.json.value).toEqual([{ actions: ["*"], notActions: CONTRIBUTOR_NOT_ACTIONS, dataActions: [], notDataActions: [] }]);
    expect((await permissions("contributor", `${sub()}/resourceGroups/rg-none/providers/Microsoft.EventHub/namespaces/x`)).json.error.code).toBe("ResourceGroupNotFound");
  });

  test("role definitions: the built-in ones, by id", async () => {
    const found = await armFetch(sb, "GET", `${roleDefinitionId(USER_ACCESS_ADMINISTRATOR)}?api-version=2022-04-01`);
    expect(found.json).toEqual({
      id: roleDefinitionId(USER_ACCESS_ADMINISTRATOR),
      name: USER_ACCESS_ADMINISTRATOR,
      type: "Microsoft.Authorization/roleDefinitions",
      properties: {
        roleName: "User Access Administrator",
        type: "BuiltInRole",
        permissions: [{ actions: ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], notActions: [], dataActions: [], notDataActions: [] }],
        assignableScopes: ["/"],
      },
    });
    const missing = await armFetch(sb, "GET", `${roleDefinitionId("00000000-0000-0000-0000-000000000000")}?api-version=2022-04-01`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("RoleDefinitionDoesNotExist");
  });
});

describe("writes are enforced", () => {
  let gateway = "";

  test("the contributor creates what aeg creates, but cannot assign a role; the owner can", async () => {
    const service = await contributor.apim.apiManagementService.beginCreateOrUpdateAndWait(
      RG,
      SVC,
      { location: LOCATION, sku: { name: "Developer", capacity: 1 }, publisherEmail: "ops@contoso.com", publisherName: "Contoso", identity: { type: "SystemAssigned" } },
      FAST,
    );
    gateway = service.identity!.principalId!;
    await contributor.apim.namedValue.beginCreateOrUpdateAndWait(RG, SVC, "aeg-tenant-id", { displayName: "aeg-tenant-id", value: sb.tenantId }, FAST);
    await contributor.eventHub.namespaces.createOrUpdate(RG, NS, { location: LOCATION, sku: { name: "Standard", tier: "Standard", capacity: 1 } }, FAST);
    await contributor.eventHub.eventHubs.createOrUpdate(RG, NS, HUB, { partitionCount: 2, messageRetentionInDays: 1 });

    const name = "3c9a6f0e-1d2b-4c5d-8e7f-9a0b1c2d3e4f";
    const body = { roleDefinitionId: roleDefinitionId(DATA_SENDER), principalId: gateway, principalType: "ServicePrincipal" as const };
    const refused = await restError(contributor.authorization.roleAssignments.create(hubId(), name, body));
    expect(refused.statusCode).toBe(403);
    expect(refused.code).toBe("AuthorizationFailed");
    expect(refused.message).toBe(denial(sb.contributorClientId, await objectId("contributor"), "Microsoft.Authorization/roleAssignments/write", `${hubId()}/providers/Microsoft.Authorization/roleAssignments/${name}`));

    const made = await operator.authorization.roleAssignments.create(hubId(), name, body);
    expect(made.scope).toBe(hubId());
    // Deleting it is Microsoft.Authorization/*/Delete: Contributor's notActions again.
    expect((await restError(contributor.authorization.roleAssignments.delete(hubId(), name))).code).toBe("AuthorizationFailed");
  });

  test("the reader cannot write at all, not even POST actions", async () => {
    const oid = await objectId("reader");
    const put = await restError(reader.apim.namedValue.beginCreateOrUpdateAndWait(RG, SVC, "x", { displayName: "x", value: "y" }, FAST));
    expect(put.message).toBe(denial(sb.readerClientId, oid, "Microsoft.ApiManagement/service/namedValues/write", `${rg()}/providers/Microsoft.ApiManagement/service/${SVC}/namedValues/x`));
    const secret = await restError(reader.apim.namedValue.listValue(RG, SVC, "aeg-tenant-id"));
    expect(secret.message).toContain("'Microsoft.ApiManagement/service/namedValues/listValue/action'");
    expect((await restError(reader.eventHub.eventHubs.delete(RG, NS, HUB))).statusCode).toBe(403);
  });

  test("an assignment below the subscription counts where it applies, and only there", async () => {
    const contributorOid = await objectId("contributor");
    const grant = "4d0b7a1f-2e3c-4d6e-9f80-a1b2c3d4e5f6";
    await operator.authorization.roleAssignments.create(hubId(), grant, { roleDefinitionId: roleDefinitionId(USER_ACCESS_ADMINISTRATOR), principalId: contributorOid, principalType: "ServicePrincipal" });
    try {
      expect((await permissions("contributor", hubId())).json.value).toHaveLength(2);
      expect((await permissions("contributor", nsId())).json.value).toHaveLength(1);
      const atHub = "5e1c8b2a-3f4d-4e7f-8a91-b2c3d4e5f6a7";
      await contributor.authorization.roleAssignments.create(hubId(), atHub, { roleDefinitionId: roleDefinitionId(DATA_SENDER), principalId: await objectId("reader"), principalType: "ServicePrincipal" });
      await contributor.authorization.roleAssignments.delete(hubId(), atHub);
      const atNamespace = await restError(contributor.authorization.roleAssignments.create(nsId(), atHub, { roleDefinitionId: roleDefinitionId(DATA_SENDER), principalId: gateway, principalType: "ServicePrincipal" }));
      expect(atNamespace.code).toBe("AuthorizationFailed");
    } finally {
      await operator.authorization.roleAssignments.delete(hubId(), grant);
    }
  });

  test("the gateway's managed identity still sends with its Data Sender role (data plane, not ARM)", async () => {
    const held = [];
    for await (const a of operator.authorization.roleAssignments.listForScope(hubId(), { filter: `principalId eq '${gateway}'` })) held.push(a.roleDefinitionId);
    expect(held).toEqual([roleDefinitionId(DATA_SENDER)]);
  });
});

describe("a tenant made before the contributor existed", () => {
  test("is brought to the seed on start: the contributor app, and each app's role", async () => {
    const dir = tempDir();
    const first = await startSandbox({ stateDir: dir });
    await first.close();
    const file = path.join(dir, "state.json");
    const state = JSON.parse(fs.readFileSync(file, "utf8"));
    delete state.principals[state.apps.contributor.objectId];
    delete state.apps.contributor;
    state.roleAssignments = {};
    fs.writeFileSync(file, JSON.stringify(state));

    const again = path.join(dir, "traffic.jsonl");
    trafficFiles.push(again);
    const { sb: upgraded } = await startTestSandbox({ stateDir: dir, trafficFile: again });
    try {
      expect(upgraded.clientId).toBe(state.apps.operator.clientId);
      expect(upgraded.contributorClientId).toMatch(/^[0-9a-f-]{36}$/);
      const c = clients(upgraded, "contributor");
      await clients(upgraded).resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
      const entries = [];
      for await (const p of c.authorization.permissions.listForResourceGroup(RG)) entries.push(p.notActions);
      expect(entries).toEqual([CONTRIBUTOR_NOT_ACTIONS]);
    } finally {
      await upgraded.close();
    }
  });
});

test("every recorded ARM exchange conforms to the official specs", async () => {
  for (const file of trafficFiles) await assertTrafficConformsToSpecs(file);
});
