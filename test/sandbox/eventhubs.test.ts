// The sandbox's Event Hubs data plane, driven by the real @azure/event-hubs v6 client: Entra
// tokens over TLS (customEndpointAddress), RBAC from the tenant state, the gateway's
// log-to-eventhub reaching an open receiver, a restart, and the emulator-style connection string.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SignJWT, generateKeyPair, importJWK, type JWK } from "jose";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  earliestEventPosition,
  type EventPosition,
  type ReceivedEventData,
  type Subscription,
} from "@azure/event-hubs";
import type { Sandbox } from "../../sandbox/index.js";
import { FAST, clients, credential, startTestSandbox, until } from "../support/sandbox.js";

const RG = "rg-eh";
const NS = "aeg-eh-data";
const HUB = "decisions";
const SVC = "apim-eh-test";
const DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";
const FQNS = `${NS}.servicebus.windows.net`;
const NO_RETRY = { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } };

let sb: Sandbox;
let dir: string;
let apimPrincipal = "";
const open: { close(): Promise<void> }[] = [];

/** Clients the way aeg must build them: the namespace's real name, the sandbox as custom endpoint. */
function producer(cred: TokenCredential = credential(sb)): EventHubProducerClient {
  const p = new EventHubProducerClient(FQNS, HUB, cred, { customEndpointAddress: sb.eventHubs, ...NO_RETRY });
  open.push(p);
  return p;
}
function consumer(cred: TokenCredential = credential(sb), group = "$Default"): EventHubConsumerClient {
  const c = new EventHubConsumerClient(group, FQNS, HUB, cred, { customEndpointAddress: sb.eventHubs, ...NO_RETRY });
  open.push(c);
  return c;
}

/** A token as the sandbox Entra signs them (or signed by a stranger's key). */
async function mintToken(oid: string, opts: { aud?: string; foreignKey?: boolean } = {}): Promise<TokenCredential> {
  const jwk = JSON.parse(fs.readFileSync(path.join(dir, "signing-key.json"), "utf8")) as JWK;
  const key = opts.foreignKey ? (await generateKeyPair("RS256")).privateKey : await importJWK({ ...jwk, alg: "RS256" }, "RS256");
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ aud: opts.aud ?? "https://eventhubs.azure.net", iss: `${sb.authority}/${sb.tenantId}/v2.0`, tid: sb.tenantId, oid, sub: oid, ver: "2.0", iat: now, nbf: now - 60, exp: now + 3600 })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: jwk.kid! })
    .sign(key);
  return { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: (now + 3600) * 1000 }) };
}

/** Subscribes to all partitions and collects what arrives; errors are collected too. */
function collect(c: EventHubConsumerClient, startPosition: EventPosition) {
  const events: (ReceivedEventData & { partitionId: string })[] = [];
  const errors: Error[] = [];
  const sub: Subscription = c.subscribe(
    {
      processEvents: async (batch, ctx) => void events.push(...batch.map((e) => ({ ...e, partitionId: ctx.partitionId }))),
      processError: async (err) => void errors.push(err),
    },
    { startPosition, maxWaitTimeInSeconds: 1 },
  );
  return { events, errors, sub };
}

async function startAt(dirArg?: string): Promise<void> {
  ({ sb, dir } = await startTestSandbox({ apimActivationMs: 50, ...(dirArg ? { stateDir: dirArg } : {}) }));
}

async function closeClients(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.close()));
}

beforeAll(async () => {
  await startAt();
  const c = clients(sb);
  await c.resources.resourceGroups.createOrUpdate(RG, { location: "westeurope" });
  await c.eventHub.namespaces.beginCreateOrUpdateAndWait(RG, NS, { location: "West Europe", sku: { name: "Standard", tier: "Standard", capacity: 1 } }, FAST);
  await c.eventHub.eventHubs.createOrUpdate(RG, NS, HUB, { partitionCount: 2 });
  await c.eventHub.consumerGroups.createOrUpdate(RG, NS, HUB, "aeg-sink", {});
  // An APIM identity with Data Sender only: the gateway's logger sends as it, and it may not receive.
  const svc = await c.apim.apiManagementService.beginCreateOrUpdateAndWait(
    RG,
    SVC,
    { location: "West Europe", sku: { name: "Developer", capacity: 1 }, publisherEmail: "ops@contoso.com", publisherName: "Contoso", identity: { type: "SystemAssigned" } },
    FAST,
  );
  apimPrincipal = svc.identity!.principalId!;
  await c.authorization.roleAssignments.create(`/subscriptions/${sb.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.EventHub/namespaces/${NS}`, "5c1d3a52-9a1f-4f43-8d0e-3b8f4e1a7c21", {
    roleDefinitionId: `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${DATA_SENDER}`,
    principalId: apimPrincipal,
    principalType: "ServicePrincipal",
  });
  await c.apim.logger.createOrUpdate(RG, SVC, "eh-logger", { loggerType: "azureEventHub", credentials: { endpointAddress: FQNS, identityClientId: "SystemAssigned", name: HUB } });
  await c.apim.api.beginCreateOrUpdateAndWait(RG, SVC, "eh", { displayName: "EH API", path: "eh", serviceUrl: "https://backend.example.com", subscriptionRequired: false, protocols: ["https"] }, FAST);
  await c.apim.apiOperation.createOrUpdate(RG, SVC, "eh", "log", { displayName: "Log", method: "POST", urlTemplate: "/log" });
  await c.apim.apiOperationPolicy.createOrUpdate(RG, SVC, "eh", "log", "policy", {
    value: `<policies><inbound><base /><log-to-eventhub logger-id="eh-logger" partition-id="1">{"from":"gateway"}</log-to-eventhub></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
    format: "rawxml",
  });
});

afterAll(async () => {
  await closeClients();
  await sb?.close();
});

describe("Event Hubs AMQP with Entra tokens", () => {
  test("hub and partition properties over $management", async () => {
    const p = producer();
    const props = await p.getEventHubProperties();
    expect(props.name).toBe(HUB);
    expect(props.partitionIds).toEqual(["0", "1"]);
    expect(props.createdOn).toBeInstanceOf(Date);
    expect(await p.getPartitionIds()).toEqual(["0", "1"]);
    const part = await p.getPartitionProperties("0");
    expect(part).toMatchObject({ eventHubName: HUB, partitionId: "0", isEmpty: true, lastEnqueuedSequenceNumber: -1 });
  });

  test("a batch sent is received from the earliest position and from an enqueued time", async () => {
    const p = producer();
    const batch = await p.createBatch({ partitionId: "0" });
    for (const n of [1, 2, 3]) expect(batch.tryAdd({ body: { n }, properties: { kind: "test", n } })).toBe(true);
    await p.sendBatch(batch);
    await p.sendBatch([{ body: "keyed" }], { partitionKey: "tenant-a" });

    const part0 = await p.getPartitionProperties("0");
    expect(part0.isEmpty).toBe(false);
    expect(part0.beginningSequenceNumber).toBe(0);

    const all = collect(consumer(), earliestEventPosition);
    await until(async () => all.events.length >= 4);
    const zero = all.events.filter((e) => e.body?.n !== undefined);
    expect(zero.map((e) => e.body)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(zero.map((e) => e.sequenceNumber)).toEqual([0, 1, 2]);
    expect(zero[0]!.properties).toEqual({ kind: "test", n: 1 });
    expect(zero[0]!.enqueuedTimeUtc).toBeInstanceOf(Date);
    expect(typeof zero[1]!.offset).toBe("string");
    const keyed = all.events.find((e) => e.body === "keyed")!;
    expect(keyed.partitionKey).toBe("tenant-a");
    await all.sub.close();

    // From an enqueued time: only what was enqueued after it.
    const last = await p.getPartitionProperties("0");
    const later = producer();
    await later.sendBatch([{ body: { n: 4 } }], { partitionId: "0" });
    const since = collect(consumer(), { enqueuedOn: last.lastEnqueuedOnUtc });
    await until(async () => since.events.some((e) => e.body?.n === 4));
    expect(since.events.filter((e) => e.body?.n !== undefined).map((e) => e.body.n)).toEqual([4]);
    await since.sub.close();
  });

  test("an event the gateway logs reaches a receiver that is already open", async () => {
    const sub = collect(consumer(), earliestEventPosition);
    const before = await producer().getPartitionProperties("1");
    // Caught up on partition 1 = its link is attached and waiting.
    await until(async () => sub.events.some((e) => e.sequenceNumber === before.lastEnqueuedSequenceNumber && e.body === "keyed"));
    const res = await fetch(`${sb.gateway}/${SVC}/eh/log`, { method: "POST", body: "{}" });
    expect(res.status).toBe(200);
    const got = await until(async () => sub.events.find((e) => e.body?.from === "gateway"));
    expect(got.sequenceNumber).toBe(before.lastEnqueuedSequenceNumber + 1);
    await sub.sub.close();
  });

  test("a principal with Data Sender only may send and read properties but not receive", async () => {
    const cred = await mintToken(apimPrincipal);
    await producer(cred).sendBatch([{ body: "from-apim" }], { partitionId: "0" });
    const sub = collect(consumer(cred), earliestEventPosition);
    const err = await until(async () => sub.errors[0]);
    expect(err.name).toBe("MessagingError");
    expect((err as Error & { code?: string }).code).toBe("UnauthorizedError");
    expect(err.message).toContain("'Listen' claim(s) are required");
    expect(sub.events).toEqual([]);
    await sub.sub.close();
  });

  test("a token signed by another key, or for another audience, is refused", async () => {
    for (const cred of [await mintToken(apimPrincipal, { foreignKey: true }), await mintToken(apimPrincipal, { aud: "https://management.azure.com" })]) {
      const err = await producer(cred).getEventHubProperties().then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(err?.code).toBe("UnauthorizedError");
    }
  });

  test("an unknown hub is amqp:not-found", async () => {
    const p = new EventHubProducerClient(FQNS, "no-such-hub", credential(sb), { customEndpointAddress: sb.eventHubs, ...NO_RETRY });
    open.push(p);
    const err = await p.getEventHubProperties().then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe("MessagingEntityNotFoundError"); // the client reads "could not be found" as Azure words it
    expect(err?.message).toContain("could not be found");
  });

  test("the emulator-style connection string (plain AMQP, SAS key) sends and receives", async () => {
    const cs = sb.eventHubsConnectionString(NS, HUB);
    expect(cs).toMatch(/^Endpoint=sb:\/\/127\.0\.0\.1:\d+;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=.+;EntityPath=decisions;UseDevelopmentEmulator=true$/);
    const p = new EventHubProducerClient(cs, NO_RETRY);
    open.push(p);
    expect((await p.getEventHubProperties()).partitionIds).toEqual(["0", "1"]);
    await p.sendBatch([{ body: { via: "sas" } }], { partitionId: "1" });
    const c = new EventHubConsumerClient("aeg-sink", cs, NO_RETRY);
    open.push(c);
    const sub = collect(c, earliestEventPosition);
    await until(async () => sub.events.some((e) => e.body?.via === "sas"));
    await sub.sub.close();
    // A wrong key is refused.
    const bad = new EventHubProducerClient(cs.replace(/SharedAccessKey=[^;]+/, "SharedAccessKey=nope"), NO_RETRY);
    open.push(bad);
    const err = await bad.getEventHubProperties().then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe("UnauthorizedError");
  });

  test("receiver epochs: a higher or equal owner level takes the partition over; a lower one is refused", async () => {
    const read = (c: EventHubConsumerClient, ownerLevel?: number) => {
      const got = { events: 0, errors: [] as Array<Error & { code?: string }> };
      const sub = c.subscribe("0", { processEvents: async (b) => void (got.events += b.length), processError: async (e) => void got.errors.push(e) }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1, ...(ownerLevel === undefined ? {} : { ownerLevel }) });
      return { got, sub };
    };
    // (The client sends no epoch for an owner level of 0 without a checkpoint store: use 1 and 2.)
    const first = read(consumer(), 2);
    await until(async () => first.got.events > 0);
    // A lower epoch may not join a higher one.
    const refused = read(consumer(), 1);
    const err = await until(async () => refused.got.errors[0]);
    expect(err.code).toBe("ReceiverDisconnectedError");
    expect(refused.got.events).toBe(0);
    await refused.sub.close();
    expect(first.got.errors).toEqual([]);
    // The same epoch takes over: the first receiver is disconnected, the new one reads.
    const second = read(consumer(), 2);
    await until(async () => second.got.events > 0);
    const lost = await until(async () => first.got.errors[0]);
    expect(lost.code).toBe("ReceiverDisconnectedError");
    await Promise.all([first.sub.close(), second.sub.close()]);
  });

  test("a consumer group the hub does not have is refused (amqp:not-found, MessagingEntityNotFoundError); one made through ARM reads", async () => {
    const missing = collect(consumer(credential(sb), "no-such-group"), earliestEventPosition);
    const err = (await until(async () => missing.errors[0])) as Error & { code?: string };
    expect(err.code).toBe("MessagingEntityNotFoundError");
    expect(err.message).toMatch(new RegExp(`^The messaging entity '${NS}:eventhub:${HUB}~\\d+\\|no-such-group' could not be found`));
    expect(missing.events).toEqual([]);
    await missing.sub.close();
    const made = collect(consumer(credential(sb), "AEG-SINK"), earliestEventPosition); // names are case-insensitive
    await until(async () => made.events.length > 0);
    expect(made.errors).toEqual([]);
    await made.sub.close();
  });

  test("without an epoch: refused beside an epoch receiver, disconnected when one attaches; another group is not affected", async () => {
    const read = (c: EventHubConsumerClient, ownerLevel?: number) => {
      const got = { events: 0, errors: [] as Array<Error & { code?: string }> };
      const sub = c.subscribe("1", { processEvents: async (b) => void (got.events += b.length), processError: async (e) => void got.errors.push(e) }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1, ...(ownerLevel === undefined ? {} : { ownerLevel }) });
      return { got, sub };
    };
    // A reader without an epoch (aeg validate) reads until an epoch reader (aeg sink) attaches.
    const plain = read(consumer());
    await until(async () => plain.got.events > 0);
    const owner = read(consumer(), 1);
    await until(async () => owner.got.events > 0);
    const lost = await until(async () => plain.got.errors[0]);
    expect(lost.code).toBe("ReceiverDisconnectedError");
    expect(lost.message).toContain("without an epoch is disconnected");
    await plain.sub.close();
    // While it reads, a reader without an epoch is refused on that group ...
    const refused = read(consumer());
    const err = await until(async () => refused.got.errors[0]);
    expect(err.code).toBe("ReceiverDisconnectedError");
    expect(err.message).toContain("non-epoch receiver is not allowed");
    expect(refused.got.events).toBe(0);
    await refused.sub.close();
    // ... and welcome on another one, beside it.
    const other = read(consumer(credential(sb), "aeg-sink"));
    await until(async () => other.got.events > 0);
    expect([other.got.errors, owner.got.errors]).toEqual([[], []]);
    await Promise.all([owner.sub.close(), other.sub.close()]);
    // Once the epoch reader has gone, readers without one are welcome again.
    const after = read(consumer());
    await until(async () => after.got.events > 0);
    expect(after.got.errors).toEqual([]);
    await after.sub.close();
  });

  test("a restart keeps the events, the ports and the SAS key", async () => {
    const before = await producer().getPartitionProperties("0");
    const cs = sb.eventHubsConnectionString(NS, HUB);
    const { eventHubs, eventHubsEmulator } = sb;
    await closeClients();
    await sb.close();
    await startAt(dir);
    expect([sb.eventHubs, sb.eventHubsEmulator]).toEqual([eventHubs, eventHubsEmulator]);
    expect(sb.eventHubsConnectionString(NS, HUB)).toBe(cs);
    const after = await producer().getPartitionProperties("0");
    expect(after.lastEnqueuedSequenceNumber).toBe(before.lastEnqueuedSequenceNumber);
    const sub = collect(consumer(), earliestEventPosition);
    await until(async () => sub.events.filter((e) => e.partitionId === "0").length === before.lastEnqueuedSequenceNumber + 1);
    expect(sub.events.find((e) => e.body?.n === 1)).toBeTruthy();
    await sub.sub.close();
  });
});
