// The Event Hubs data plane: an AMQP 1.0 server (rhea as a listening container) over the event
// store. It speaks what @azure/event-hubs does: SASL ANONYMOUS, `$cbs` put-token, `$management`
// READ requests, sender links to `<hub>[/Partitions/<id>]` and receiver links from
// `<hub>/ConsumerGroups/<cg>/Partitions/<id>` with a selector filter. Two listeners: TLS with the
// sandbox certificate (the real endpoint's transport) and plain AMQP (the emulator's, for
// `UseDevelopmentEmulator=true` connection strings). Links and claims are connection state only;
// a receiver needs a consumer group the hub has (made through ARM; `$Default` always), and
// receivers' epochs (owner levels) are enforced per consumer group and partition (epochs.ts).
import type { AddressInfo, Server } from "node:net";
import rhea, { type Connection, type EventContext, type Receiver, type Sender } from "rhea";
import type { EhNamespace } from "../store.js";
import type { EventStore, StoredEvent } from "./store.js";
import { allows, checkToken, entityPathOf, hostOf, unauthorizedDescription, type AuthContext, type Claim, type Right } from "./amqpAuth.js";
import { decodeTransfer, isAfter, parseSelector, selectorOf, toAmqpMessage } from "./amqpMessages.js";
import { handleManagement, type MgmtReply } from "./amqpManagement.js";
import { findConsumerGroup } from "./consumerGroups.js";
import { Epochs, epochOf } from "./epochs.js";

export interface EventHubsAmqpOptions {
  auth: AuthContext;
  events: EventStore;
  tls: { key: string; cert: string };
  /** Last run's ports (kept stable like the HTTPS listeners); taken when free. */
  ports?: { tls?: number; plain?: number };
  /** Called after events were appended (the tenant state holds them). */
  persist: () => void;
}

interface AmqpError {
  condition: string;
  description: string;
}

/** Per-connection state: the claims put-token established and the reply links of request links. */
interface ConnState {
  claims: { path: string; claim: Claim }[];
  /** Host names the client used (open hostname, CBS audiences): they name the namespace. */
  hosts: Set<string>;
  replyLinks: Map<string, Sender>;
  cleanups: Set<() => void>;
}

/** The peer's attach frame, which rhea keeps on the link but does not declare. */
interface RemoteAttach {
  name?: string;
  source?: { address?: string; filter?: unknown };
  target?: { address?: string };
  desired_capabilities?: unknown;
  properties?: unknown;
}
const remoteAttach = (link: Sender | Receiver): RemoteAttach | undefined => (link as unknown as { remote?: { attach?: RemoteAttach } }).remote?.attach;

/** What a producer link was attached to. */
interface SendTarget {
  kind: "events";
  ns: EhNamespace;
  hub: string;
  partitionId?: string;
}
type ReceiverRole = SendTarget | { kind: "cbs" } | { kind: "management" };

const RUNTIME_METRIC = "com.microsoft:enable-receiver-runtime-metric-name";

export class EventHubsAmqp {
  private readonly conns = new WeakMap<Connection, ConnState>();
  private readonly roles = new WeakMap<Receiver, ReceiverRole>();
  private readonly servers: Server[] = [];
  private readonly open = new Set<Connection>();
  /** Receiver epochs per consumer group and partition (how partitions change hands between processors). */
  private readonly epochs = new Epochs();
  tlsPort = 0;
  plainPort = 0;

  private constructor(private readonly o: EventHubsAmqpOptions) {}

  static async start(o: EventHubsAmqpOptions): Promise<EventHubsAmqp> {
    const s = new EventHubsAmqp(o);
    try {
      s.tlsPort = await s.listen({ transport: "tls", key: o.tls.key, cert: o.tls.cert }, o.ports?.tls);
      s.plainPort = await s.listen({}, o.ports?.plain);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** Endpoint for TokenCredential clients (`customEndpointAddress`). */
  get endpoint(): string {
    return `sb://127.0.0.1:${this.tlsPort}`;
  }

  /** A connection string for the plain (emulator-style) listener, with the namespace's SAS key. */
  connectionString(namespace: string, hub?: string): string {
    const key = this.o.events.sasKey(namespace);
    return `Endpoint=sb://127.0.0.1:${this.plainPort};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${key};${hub ? `EntityPath=${hub};` : ""}UseDevelopmentEmulator=true`;
  }

  async close(): Promise<void> {
    for (const c of this.open) {
      this.conns.get(c)?.cleanups.forEach((f) => f());
      c.close();
    }
    await Promise.all(
      this.servers.map(
        (srv) =>
          new Promise<void>((resolve) => {
            srv.close(() => resolve());
            // Connections that do not answer the close in time are cut.
            (srv as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      ),
    );
    for (const c of this.open) (c as unknown as { socket?: { destroy(): void } }).socket?.destroy();
    this.open.clear();
  }

  // --- listeners ---

  private async listen(extra: Record<string, unknown>, preferred: number | undefined): Promise<number> {
    const attempt = (port: number) =>
      new Promise<Server>((resolve, reject) => {
        const c = this.container();
        const srv = c.listen({ host: "127.0.0.1", port, autoaccept: false, ...extra } as Parameters<typeof c.listen>[0]) as Server;
        srv.once("listening", () => resolve(srv));
        srv.once("error", reject);
      });
    let srv: Server;
    try {
      srv = await attempt(preferred ?? 0);
    } catch (e) {
      if (!preferred || (e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
      srv = await attempt(0);
    }
    this.servers.push(srv);
    return (srv.address() as AddressInfo).port;
  }

  private container() {
    const c = rhea.create_container({ id: "sandbox-eventhubs" });
    c.sasl_server_mechanisms.enable_anonymous();
    c.on("connection_open", (ctx: EventContext) => {
      const state: ConnState = { claims: [], hosts: new Set(), replyLinks: new Map(), cleanups: new Set() };
      const host = (ctx.connection as unknown as { remote?: { open?: { hostname?: string } } }).remote?.open?.hostname;
      if (host) state.hosts.add(host.toLowerCase());
      tolerateLateFrames(ctx.connection);
      this.conns.set(ctx.connection, state);
      this.open.add(ctx.connection);
    });
    const gone = (ctx: EventContext) => {
      this.conns.get(ctx.connection)?.cleanups.forEach((f) => f());
      this.open.delete(ctx.connection);
    };
    c.on("connection_close", gone);
    c.on("disconnected", gone);
    c.on("receiver_open", (ctx: EventContext) => this.onProducerLink(ctx));
    c.on("sender_open", (ctx: EventContext) => this.onConsumerLink(ctx));
    c.on("message", (ctx: EventContext) => void this.onMessage(ctx));
    c.on("error", () => {}); // a client that vanishes mid-handshake must not take the sandbox down
    return c;
  }

  private state(conn: Connection): ConnState {
    let s = this.conns.get(conn);
    if (!s) this.conns.set(conn, (s = { claims: [], hosts: new Set(), replyLinks: new Map(), cleanups: new Set() }));
    return s;
  }

  // --- namespace and entity resolution ---

  /** The namespace a connection addresses: by host name, by its SAS key, or the only one there is. */
  private namespaceOf(conn: Connection): EhNamespace | undefined {
    const s = this.state(conn);
    for (const h of s.hosts) {
      const ns = this.o.events.findNamespace(h.split(".")[0] ?? "");
      if (ns) return ns;
    }
    const sas = s.claims.find((c) => c.claim.kind === "sas")?.claim;
    if (sas?.kind === "sas") return this.o.events.findNamespace(sas.namespace);
    const all = Object.values(this.o.auth.state.eventHubNamespaces);
    return all.length === 1 ? all[0] : undefined;
  }

  /** Resolves `<hub>…` to the namespace and hub, or the AMQP error Event Hubs answers. */
  private entity(conn: Connection, hub: string, partitionId: string | undefined): { ns: EhNamespace; hub: string } | AmqpError {
    const ns = this.namespaceOf(conn);
    const parts = ns ? this.o.events.partitions(ns.name, hub) : undefined;
    if (!ns || !parts) return { condition: "amqp:not-found", description: `The messaging entity '${ns ? `sb://${ns.name}.servicebus.windows.net/${hub}` : hub}' could not be found.` };
    if (partitionId !== undefined && !parts.includes(partitionId)) {
      return { condition: "amqp:not-found", description: `The messaging entity 'sb://${ns.name}.servicebus.windows.net/${hub}/Partitions/${partitionId}' could not be found.` };
    }
    return { ns, hub: ns.eventHubs[hub.toLowerCase()]!.name };
  }

  /** Whether the connection holds a claim for `right` on the entity at `path` (lower-case). */
  private authorized(conn: Connection, ns: EhNamespace, hub: string, path: string, right: Right): boolean {
    return this.state(conn).claims.some((c) => (c.path === "" || path === c.path || path.startsWith(`${c.path}/`)) && allows(this.o.auth, c.claim, ns, hub, path, right));
  }

  // --- links ---

  /** A client sender: `$cbs`/`$management` request links, or a producer to a hub or partition. */
  private onProducerLink(ctx: EventContext): void {
    const link = ctx.receiver!;
    const attach = remoteAttach(link);
    const address = String(attach?.target?.address ?? "");
    link.set_target({ address });
    link.set_source({ address: attach?.source?.address ?? "" });
    const path = stripHost(address);
    if (path.toLowerCase() === "$cbs") return void this.roles.set(link, { kind: "cbs" });
    if (/(^|\/)\$management$/i.test(path)) return void this.roles.set(link, { kind: "management" });
    const m = /^([^/]+)(?:\/partitions\/([^/]+))?$/i.exec(path);
    if (!m) return link.close({ condition: "amqp:not-found", description: `The messaging entity '${address}' could not be found.` });
    const target = this.entity(ctx.connection, m[1]!, m[2]);
    if ("condition" in target) return link.close(target);
    if (!this.authorized(ctx.connection, target.ns, target.hub, path.toLowerCase(), "send")) {
      return link.close({ condition: "amqp:unauthorized-access", description: unauthorizedDescription("send", `sb://${target.ns.name}.servicebus.windows.net/${path}`) });
    }
    this.roles.set(link, { kind: "events", ns: target.ns, hub: target.hub, partitionId: m[2] });
  }

  /** A client receiver: the reply link of `$cbs`/`$management`, or a consumer of one partition. */
  private onConsumerLink(ctx: EventContext): void {
    const link = ctx.sender!;
    const attach = remoteAttach(link);
    const address = String(attach?.source?.address ?? "");
    link.set_source({ address });
    link.set_target({ address: attach?.target?.address ?? "" });
    const path = stripHost(address);
    if (path.toLowerCase() === "$cbs" || /(^|\/)\$management$/i.test(path)) {
      const s = this.state(ctx.connection);
      // Replies go to `reply_to`: the CBS client uses the link name, $management the target address.
      s.replyLinks.set(link.name, link);
      const t = attach?.target?.address;
      if (t) s.replyLinks.set(String(t), link);
      return;
    }
    const m = /^([^/]+)\/consumergroups\/([^/]+)\/partitions\/([^/]+)$/i.exec(path);
    if (!m) return link.close({ condition: "amqp:not-found", description: `The messaging entity '${address}' could not be found.` });
    const target = this.entity(ctx.connection, m[1]!, m[3]);
    if ("condition" in target) return link.close(target);
    if (!this.authorized(ctx.connection, target.ns, target.hub, path.toLowerCase(), "listen")) {
      return link.close({ condition: "amqp:unauthorized-access", description: unauthorizedDescription("listen", `sb://${target.ns.name}.servicebus.windows.net/${path}`) });
    }
    const group = findConsumerGroup(target.ns, target.hub, m[2]!);
    // Event Hubs names the missing group by its internal path: '<ns>:eventhub:<hub>~<id>|<group>'.
    if (!group) return link.close({ condition: "amqp:not-found", description: `The messaging entity '${target.ns.name}:eventhub:${target.hub}~32766|${m[2]}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.` });
    const start = parseSelector(selectorOf(attach?.source?.filter));
    if (!start) return link.close({ condition: "amqp:not-implemented", description: "The selector filter is not supported by the sandbox." });
    const scope = `${target.ns.name}/${target.hub}/${group.name}/${m[3]}`.toLowerCase();
    const refused = this.epochs.admit(scope, link, epochOf(attach?.properties), `partition ${m[3]} of consumer group '${group.name}'`);
    if (refused) return link.close(refused);
    const release = () => this.epochs.release(scope, link);
    link.on("sender_close", release);
    link.on("sender_error", release);
    this.state(ctx.connection).cleanups.add(release);
    this.startConsumer(ctx.connection, link, target.ns, target.hub, m[3]!, start, wantsRuntimeMetrics(attach?.desired_capabilities));
  }

  /** Delivers the partition's events from the start position, as credit allows, then new ones as they come. */
  private startConsumer(conn: Connection, link: Sender, ns: EhNamespace, hub: string, partitionId: string, start: NonNullable<ReturnType<typeof parseSelector>>, metrics: boolean): void {
    const ev = this.o.events;
    const stored = ev.read(ns.name, hub, { partitionId });
    const first = stored.find((e) => isAfter(e, start));
    let next = first ? first.sequenceNumber : ev.lastEnqueued(ns.name, hub, partitionId).sequenceNumber + 1;
    const pump = () => {
      if (!link.is_open() || !link.sendable()) return;
      for (const e of ev.read(ns.name, hub, { partitionId })) {
        if (e.sequenceNumber < next) continue;
        if (!link.sendable()) break;
        link.send(this.outgoing(e, ns, hub, partitionId, metrics) as unknown as Parameters<Sender["send"]>[0]);
        next = e.sequenceNumber + 1;
      }
    };
    const unsubscribe = ev.subscribe(ns.name, hub, (e) => {
      if (e.partitionId === partitionId) pump();
    });
    const s = this.state(conn);
    s.cleanups.add(unsubscribe);
    link.on("sendable", pump);
    const stop = () => {
      unsubscribe();
      s.cleanups.delete(unsubscribe);
    };
    link.on("sender_close", stop);
    link.on("sender_error", stop);
    pump();
  }

  private outgoing(e: StoredEvent, ns: EhNamespace, hub: string, partitionId: string, metrics: boolean): Record<string, unknown> {
    const msg = toAmqpMessage(e);
    if (metrics) {
      const last = this.o.events.lastEnqueued(ns.name, hub, partitionId);
      msg["delivery_annotations"] = {
        last_enqueued_sequence_number: rhea.types.wrap_long(last.sequenceNumber),
        last_enqueued_offset: last.offset,
        last_enqueued_time_utc: new Date(last.enqueuedTimeUtc ?? 0),
        runtime_info_retrieval_time_utc: new Date(),
      };
    }
    return msg;
  }

  // --- transfers ---

  private async onMessage(ctx: EventContext): Promise<void> {
    const link = ctx.receiver!;
    const role = this.roles.get(link);
    const delivery = ctx.delivery!;
    if (!role) return void delivery.reject({ condition: "amqp:not-allowed", description: "The link is not attached to an entity." });
    if (role.kind === "events") return this.onEvents(ctx, role);
    delivery.accept();
    const msg = ctx.message as { message_id?: unknown; reply_to?: string; application_properties?: Record<string, unknown>; body?: unknown };
    const reply = role.kind === "cbs" ? await this.putToken(ctx.connection, msg) : await handleManagement(this.mgmtContext(ctx.connection), msg);
    const to = msg.reply_to ? this.state(ctx.connection).replyLinks.get(msg.reply_to) : undefined;
    if (!to || !to.is_open()) return;
    to.send({
      to: msg.reply_to,
      correlation_id: msg.message_id,
      application_properties: { "status-code": reply.status, "status-description": reply.description, ...(reply.condition ? { "error-condition": reply.condition } : {}) },
      ...(reply.body !== undefined ? { body: reply.body } : {}),
    } as unknown as Parameters<Sender["send"]>[0]);
  }

  private onEvents(ctx: EventContext, t: SendTarget): void {
    const delivery = ctx.delivery!;
    try {
      // rhea hands over a non-zero message format undecoded (a Buffer) with `format` set.
      const events = decodeTransfer(ctx.message, (ctx as EventContext & { format?: number }).format);
      for (const e of events) {
        this.o.events.append(t.ns.name, t.hub, e.body, { partitionId: t.partitionId, partitionKey: t.partitionId === undefined ? e.partitionKey : undefined, properties: e.properties, bodyEncoding: e.bodyEncoding });
      }
      this.o.persist();
      delivery.accept();
    } catch (e) {
      delivery.reject({ condition: "amqp:internal-error", description: e instanceof Error ? e.message : String(e) });
    }
  }

  /** `$cbs` put-token: remember what the token proves for the audience it names. */
  private async putToken(conn: Connection, msg: { application_properties?: Record<string, unknown>; body?: unknown }): Promise<MgmtReply> {
    const props = msg.application_properties ?? {};
    if (props["operation"] !== "put-token") return { status: 400, description: `The operation '${String(props["operation"])}' is not supported.`, condition: "amqp:not-implemented" };
    const audience = String(props["name"] ?? "");
    const token = typeof msg.body === "string" ? msg.body : Buffer.isBuffer(msg.body) ? msg.body.toString("utf8") : "";
    const check = await checkToken(this.o.auth, token, String(props["type"] ?? ""));
    if (!check.ok) return { status: 401, description: check.description };
    const s = this.state(conn);
    const host = hostOf(audience);
    if (host) s.hosts.add(host);
    const path = entityPathOf(audience);
    s.claims = s.claims.filter((c) => c.path !== path); // a renewed token replaces the old one
    s.claims.push({ path, claim: check.claim });
    return { status: 202, description: "Accepted" };
  }

  private mgmtContext(conn: Connection) {
    return {
      events: this.o.events,
      entity: (hub: string) => this.entity(conn, hub, undefined),
      /** Management reads need a data claim: the request's security_token or one from `$cbs`. */
      authorize: async (ns: EhNamespace, hub: string, token: string | undefined) => {
        const path = `${hub.toLowerCase()}/$management`;
        if (this.authorized(conn, ns, hub, path, "listen") || this.authorized(conn, ns, hub, path, "send")) return true;
        if (!token) return false;
        const check = await checkToken(this.o.auth, token, token.startsWith("SharedAccessSignature ") ? "servicebus.windows.net:sastoken" : "jwt");
        return check.ok && (allows(this.o.auth, check.claim, ns, hub, path, "listen") || allows(this.o.auth, check.claim, ns, hub, path, "send"));
      },
    };
  }
}

/**
 * The client may settle a delivery or grant credit just after it ended the session (closing a
 * subscription races its auto-accept). rhea treats such a frame as a protocol error and drops the
 * whole connection, with every other link on it; the service ignores it, and so do we.
 */
function tolerateLateFrames(conn: Connection): void {
  type Frame = { channel: number };
  const c = conn as unknown as Record<string, unknown> & { remote_channel_map: Record<number, unknown> };
  for (const name of ["on_disposition", "on_flow", "on_transfer"]) {
    const original = c[name] as (this: unknown, f: Frame) => void;
    c[name] = function (this: typeof c, frame: Frame) {
      if (this.remote_channel_map[frame.channel]) original.call(this, frame);
    };
  }
}

/** `amqps://ns.servicebus.windows.net/hub` → `hub`; a bare path stays as it is. */
function stripHost(address: string): string {
  return address.replace(/^[a-z]+:\/\/[^/]+\//i, "").replace(/^\/+|\/+$/g, "");
}

function wantsRuntimeMetrics(caps: unknown): boolean {
  const list = Array.isArray(caps) ? caps : caps ? [caps] : [];
  return list.some((c) => String(c) === RUNTIME_METRIC);
}
