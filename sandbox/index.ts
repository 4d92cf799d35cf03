// The embedded local tenant: a faithful stand-in for the Azure endpoints aeg calls.
// Never imports from src/ (a fake that shares code with the product agrees with its bugs).
import fs from "node:fs";
import path from "node:path";
import { Router, json, listen, listenPreferring, routerHandler, type Listener } from "./http.js";
import { checkToolchain } from "./gateway/expressions/toolchain.js";
import { acquireLock } from "./lock.js";
import { Store, STATE_FILE } from "./store.js";
import { loadPki, CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE, SIGNING_KEY_FILE } from "./pki.js";
import { entraNotFound, entraRouter, type EntraContext } from "./entra.js";
import { ArmServer } from "./arm/server.js";
import { seedRoleAssignments } from "./arm/rbac.js";
import { ApiLocks } from "./arm/apiLocks.js";
import { latencyModel, type LatencyOption } from "./arm/latency.js";
import type { ArmContext } from "./arm/common.js";
import { EventStore } from "./eventhubs/store.js";
import { EventHubsAmqp } from "./eventhubs/amqp.js";
import { Gateway } from "./gateway/index.js";
import { AZURITE_DIR, BlobService } from "./storage/index.js";
import type { ExpressionHostOptions } from "./gateway/expressions/host.js";
import { mountGovernance } from "./governance/index.js";
import type { DataverseLimitOptions } from "./governance/dataverse-limits.js";
import { SERVER_FILE, personaTokenVia, removeServerInfo, writeServerInfo, type PublicInfo } from "./governance/discovery.js";
import { AGENTS, PERSONAS, type Agent, type Persona } from "./governance/personas.js";
import type { PersonaTokenRequest } from "./governance/tokens.js";

export { mintPersonaToken, type PersonaTokenRequest, type TokenVersion } from "./governance/tokens.js";
export { AZURE_LATENCY, LatencyModelError, latencyModel, scaleLatency, type LatencyModel, type LatencyOption, type WriteKind } from "./arm/latency.js";
export { runningServer, SERVER_FILE, type ServerInfo } from "./governance/discovery.js";
export * from "./governance/personas.js";

export interface SandboxOptions {
  /** Tenant state on disk (JSON) + CA key/cert; created if missing. */
  stateDir: string;
  /** ARM listener port; 0/undefined = random. Other listeners always random. */
  port?: number;
  /** APIM service creation time (time-based, like Azure keeps working while you're away); default 4000. */
  apimActivationMs?: number;
  /** InProgress polls for child LROs (named values, fragments, apis, EH namespace); default 1. */
  lroPolls?: number;
  /** Value of Retry-After on LRO responses; default 1. */
  retryAfterSeconds?: number;
  /** When set, append one JSON line {liveRequest, liveResponse} per ARM request served (oav format). */
  trafficFile?: string;
  /** Overrides for the gateway's Mono toolchain (e.g. a `mono` path; tests use a missing one). */
  expressions?: Partial<ExpressionHostOptions>;
  /**
   * Dataverse service-protection limits per caller (`oid`): requestsPer5Min (6000),
   * executionMsPer5Min (1,200,000), concurrent (52), windowMs (300,000), now (clock, for tests),
   * perRowMs (10, modelled execution time per row written), realTime (false), dopHint (4).
   */
  dataverseLimits?: DataverseLimitOptions;
  /** Dataverse alternate keys stay Pending this long before Active (ms); default 0 = at once. */
  dataverseKeyActivationMs?: number;
  /**
   * ARM's answer delays and long-running-operation durations: "none" (default), "azure", a model,
   * or `{ file }` naming a JSON model (arm/latency.ts). APIM creation keeps `apimActivationMs`.
   */
  latency?: LatencyOption;
  /** Model APIM's API-level lock: a write under an API that overlaps another answers 409 (arm/apiLocks.ts). Default off. */
  apiLocks?: boolean;
  /** With `apiLocks`: how long an API stays locked after its last write, and that write's operation, ended (ms); default 0. */
  apiLockSettleMs?: number;
}

/** The public facts (server.json's) and the tenant's credentials. */
export interface SandboxInfo extends PublicInfo {
  subscriptionId: string;
  clientId: string;
  clientSecret: string;
  readerClientId: string;
  readerClientSecret: string;
  /** An application that is Contributor on the subscription and nothing else: it may create resources, not assign roles. */
  contributorClientId: string;
  contributorClientSecret: string;
  /** Event Hubs AMQP over TLS (sandbox certificate): a client's `customEndpointAddress`. */
  eventHubs: string;
  /** Event Hubs over plain AMQP, as the emulator is reached (`UseDevelopmentEmulator=true`). */
  eventHubsEmulator: string;
  /**
   * A blob container URL for `aeg sink --checkpoint-store` (Azurite behind the sandbox's TLS,
   * Entra tokens of this tenant). Any identity of the tenant may use it: the sandbox does not
   * check Storage Blob Data Contributor.
   */
  checkpointStore: string;
}

export interface Sandbox extends SandboxInfo {
  /** `Endpoint=sb://127.0.0.1:<plain port>;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=…;EntityPath=<hub>;UseDevelopmentEmulator=true` */
  eventHubsConnectionString(namespace: string, hub?: string): string;
  close(): Promise<void>;
}

/** Routers for the listeners other issues fill in; unknown paths answer a JSON 404. */
interface ExtraRouters {
  graph: Router<unknown>;
  dataverse: Router<unknown>;
}

const notFound = (code: string) => (req: { method: string; path: string }) => json(404, { error: { code, message: `No sandbox handler for ${req.method} ${req.path}.` } });

export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  fs.mkdirSync(opts.stateDir, { recursive: true });
  // A bad latency model is the caller's mistake: say so before taking the directory.
  const latency = latencyModel(opts.latency);
  const release = acquireLock(opts.stateDir);
  const listeners: Listener[] = [];
  let gateway: Gateway | undefined;
  let amqp: EventHubsAmqp | undefined;
  let blob: BlobService | undefined;
  try {
    const pki = await loadPki(opts.stateDir);
    const store = Store.load(opts.stateDir);
    const state = store.state;
    seedRoleAssignments(state);
    const urls = { arm: "", authority: "", graph: "", dataverse: "", gateway: "" };

    const entra: EntraContext = {
      state,
      pki,
      authority: () => urls.authority,
      ownResources: () => [urls.arm, urls.graph, urls.dataverse, urls.gateway].filter(Boolean),
    };
    const armCtx: ArmContext = {
      state,
      opts: {
        apimActivationMs: opts.apimActivationMs ?? 4000,
        lroPolls: opts.lroPolls ?? 1,
        retryAfterSeconds: opts.retryAfterSeconds ?? 1,
        latency,
      },
      urls: { arm: () => urls.arm, gateway: () => urls.gateway },
    };
    const events = new EventStore(state);
    gateway = new Gateway({
      state,
      pki,
      entra,
      events,
      stateDir: opts.stateDir,
      hosts: { authority: () => urls.authority, graph: () => urls.graph, dataverse: () => urls.dataverse },
      expressions: opts.expressions,
    });
    const gw = gateway;
    armCtx.checkExpression = gw.checkExpressions;
    armCtx.events = events;
    armCtx.gatewayStats = () => gw.getStats();
    const arm = new ArmServer(armCtx, entra, store, opts.trafficFile, opts.apiLocks ? new ApiLocks(opts.apiLockSettleMs ?? 0) : undefined);
    const routers: ExtraRouters = { graph: new Router(), dataverse: new Router() };

    const ports = (state.ports ??= {});
    // An explicit --port must be honoured or fail; the others prefer last run's ports.
    const armL = opts.port ? await listen(pki.tls, opts.port, arm.handle) : await listenPreferring(pki.tls, ports.arm, arm.handle);
    listeners.push(armL);
    urls.arm = armL.url;
    const authorityRouter = entraRouter(entra);
    const authorityHandler = routerHandler(authorityRouter, entraNotFound);
    mountGovernance({ authority: authorityRouter, graph: routers.graph, dataverse: routers.dataverse }, entra, { dataverseLimits: opts.dataverseLimits, dataverseKeyActivationMs: opts.dataverseKeyActivationMs, retryAfterSeconds: opts.retryAfterSeconds });
    const authorityL = await listenPreferring(pki.tls, ports.authority, async (req, res, base) => {
      await authorityHandler(req, res, base);
      store.persist();
    });
    listeners.push(authorityL);
    urls.authority = authorityL.url;
    for (const name of ["graph", "dataverse"] as const) {
      const handler = routerHandler(routers[name], notFound(name === "graph" ? "Request_ResourceNotFound" : "NotFound"));
      const l = await listenPreferring(pki.tls, ports[name], async (req, res, base) => {
        await handler(req, res, base);
        store.persist(); // users, roles and app-role grants are tenant state
      });
      listeners.push(l);
      urls[name] = l.url;
    }
    const gatewayL = await listenPreferring(pki.tls, ports.gateway, async (req, res, base) => {
      await gw.handle(req, res, base);
      store.persist(); // log-to-eventhub appends events to the tenant state
    });
    listeners.push(gatewayL);
    urls.gateway = gatewayL.url;

    for (const [name, url] of Object.entries(urls)) ports[name as keyof typeof ports] = Number(new URL(url).port);
    // Event Hubs data plane (AMQP): TLS for token clients, plain for emulator-style connection strings.
    const ehPorts = ports as Record<string, number | undefined>;
    amqp = await EventHubsAmqp.start({ auth: { state, entra, events }, events, tls: pki.tls, ports: { tls: ehPorts["eventHubs"], plain: ehPorts["eventHubsEmulator"] }, persist: () => store.persist() });
    const eh = amqp;
    ehPorts["eventHubs"] = eh.tlsPort;
    ehPorts["eventHubsEmulator"] = eh.plainPort;
    // Blob storage for the sink's checkpoints: listens now, starts Azurite on first use.
    blob = await BlobService.start({ stateDir: opts.stateDir, entra, tls: pki.tls, caPem: pki.caPem, port: ehPorts["blob"] });
    const blobs = blob;
    ehPorts["blob"] = blobs.port;
    store.persist();
    writeServerInfo(opts.stateDir, { ...urls, caFile: pki.caFile, tenantId: state.tenantId });
    let closed = false;
    return {
      ...urls,
      caFile: pki.caFile,
      tenantId: state.tenantId,
      subscriptionId: state.subscriptionId,
      clientId: state.apps.operator.clientId,
      clientSecret: state.apps.operator.clientSecret,
      readerClientId: state.apps.reader.clientId,
      readerClientSecret: state.apps.reader.clientSecret,
      contributorClientId: state.apps.contributor.clientId,
      contributorClientSecret: state.apps.contributor.clientSecret,
      eventHubs: eh.endpoint,
      eventHubsEmulator: `sb://127.0.0.1:${eh.plainPort}`,
      checkpointStore: blobs.checkpointStore,
      eventHubsConnectionString: (namespace, hub) => {
        const cs = eh.connectionString(namespace, hub);
        store.persist(); // a key made on first use must survive a restart
        return cs;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await eh.close();
        await blobs.close(); // stops Azurite
        await Promise.all(listeners.map((l) => l.close()));
        await gw.close(); // stops the Mono expression worker
        store.persist();
        removeServerInfo(opts.stateDir);
        release();
      },
    };
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    await amqp?.close();
    await blob?.close();
    await gateway?.close();
    release();
    throw e;
  }
}

/** Files the sandbox owns in a state directory (reset removes exactly these). */
const OWNED = [STATE_FILE, CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE, SIGNING_KEY_FILE, SERVER_FILE];

/** Clears the tenant state, CA and keys (keeps nothing). Refuses while a sandbox runs on the directory. */
export async function resetSandbox(stateDir: string): Promise<void> {
  if (!fs.existsSync(stateDir)) return;
  const release = acquireLock(stateDir);
  try {
    for (const f of fs.readdirSync(stateDir)) {
      if (OWNED.includes(f) || (f.startsWith(STATE_FILE) && f.endsWith(".tmp"))) fs.rmSync(path.join(stateDir, f), { force: true });
    }
    fs.rmSync(path.join(stateDir, AZURITE_DIR), { recursive: true, force: true }); // the emulator's blobs

  } finally {
    release(); // removes the lock file, the last file of ours
  }
}

/** The governance seed: personas (with the contract row each exercises and its expected answer) and agents. */
export function sandboxPersonas(): { personas: Persona[]; agents: Agent[] } {
  return structuredClone({ personas: PERSONAS, agents: AGENTS });
}

/**
 * A persona's access token from the sandbox on `stateDir`: through the running sandbox's admin
 * route when one runs (server.json + live lock), else from one started here and closed again.
 */
export function personaToken(stateDir: string, req: PersonaTokenRequest): Promise<string> {
  return personaTokenVia(stateDir, req, (dir) => startSandbox({ stateDir: dir }));
}

/**
 * Why the sandbox gateway cannot run policy expressions on this machine (Mono missing), or
 * undefined when it can. Cheap: looks for the tools, builds nothing.
 */
export async function gatewayToolchainProblem(): Promise<string | undefined> {
  try {
    await checkToolchain();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
