// Events sent to the sandbox's Event Hubs, kept per (namespace, hub) in the tenant state so they
// survive restarts. The gateway's log-to-eventhub appends here; an AMQP front end can read them.
// Each hub keeps its most recent events only (bounded), with per-partition sequence numbers and
// offsets that keep counting after old events are dropped, as a real hub's retention does.
import { randomBytes } from "node:crypto";
import type { EhNamespace, TenantState } from "../store.js";

/** Application property values an event may carry (AMQP senders use more than strings). */
export type EventPropertyValue = string | number | boolean;

export interface StoredEvent {
  partitionId: string;
  sequenceNumber: number;
  /** Byte offset within the partition, as a decimal string (Event Hubs' shape). */
  offset: string;
  enqueuedTimeUtc: string;
  body: string;
  /** "base64" when the body bytes are not UTF-8 text (AMQP senders may send any bytes). */
  bodyEncoding?: "base64";
  /** The sender's partition key, handed back to receivers as `x-opt-partition-key`. */
  partitionKey?: string;
  properties: Record<string, EventPropertyValue>;
}

export interface HubEvents {
  namespace: string;
  hub: string;
  events: StoredEvent[];
  /** Next sequence number and offset per partition id. */
  next: Record<string, { sequenceNumber: number; offset: number }>;
  /** Round-robin cursor over the partitions. */
  cursor: number;
}

/** The state fields this module adds to the tenant state. */
export interface EventStoreState {
  eventHubEvents?: Record<string, HubEvents>;
  /** SAS key (RootManageSharedAccessKey) per namespace name lower-cased, made on first use. */
  eventHubKeys?: Record<string, string>;
}

/** Called with each event appended to the hub a listener subscribed to. */
export type EventListener = (event: StoredEvent) => void;

const MAX_EVENTS_PER_HUB = 10_000;

export interface AppendOptions {
  partitionId?: string;
  partitionKey?: string;
  properties?: Record<string, EventPropertyValue>;
  bodyEncoding?: "base64";
}

export class EventStore {
  /** Live listeners per hub key (connection state, never persisted). */
  private readonly listeners = new Map<string, Set<EventListener>>();

  constructor(
    private readonly state: TenantState & EventStoreState,
    private readonly maxPerHub = MAX_EVENTS_PER_HUB,
  ) {}

  /** The namespace resource with this name (names are globally unique in Azure), if any. */
  findNamespace(namespace: string): EhNamespace | undefined {
    return Object.values(this.state.eventHubNamespaces).find((n) => n.name.toLowerCase() === namespace.toLowerCase());
  }

  /** Partition ids of an existing hub, or undefined when the namespace or hub does not exist. */
  partitions(namespace: string, hub: string): string[] | undefined {
    const h = this.findNamespace(namespace)?.eventHubs[hub.toLowerCase()];
    if (!h) return undefined;
    const ids = h.properties["partitionIds"];
    return Array.isArray(ids) && ids.length ? ids.map(String) : ["0"];
  }

  /** Appends one event; throws when the hub does not exist (the sender would get an error too). */
  append(namespace: string, hub: string, body: string, opts: AppendOptions = {}): StoredEvent {
    const parts = this.partitions(namespace, hub);
    if (!parts) throw new Error(`The messaging entity '${namespace}/${hub}' could not be found.`);
    const rec = this.hubRecord(namespace, hub, true)!;
    let partitionId: string;
    if (opts.partitionId !== undefined) {
      if (!parts.includes(opts.partitionId)) throw new Error(`The partition id '${opts.partitionId}' is not valid for event hub '${hub}'.`);
      partitionId = opts.partitionId;
    } else if (opts.partitionKey !== undefined) {
      partitionId = parts[hashKey(opts.partitionKey) % parts.length]!;
    } else {
      partitionId = parts[rec.cursor % parts.length]!;
      rec.cursor = (rec.cursor + 1) % parts.length;
    }
    const next = (rec.next[partitionId] ??= { sequenceNumber: 0, offset: 0 });
    const event: StoredEvent = {
      partitionId,
      sequenceNumber: next.sequenceNumber,
      offset: String(next.offset),
      enqueuedTimeUtc: new Date().toISOString(),
      body,
      properties: { ...(opts.properties ?? {}) },
    };
    if (opts.bodyEncoding) event.bodyEncoding = opts.bodyEncoding;
    if (opts.partitionKey !== undefined) event.partitionKey = opts.partitionKey;
    next.sequenceNumber++;
    next.offset += Buffer.byteLength(body, opts.bodyEncoding === "base64" ? "base64" : "utf8");
    rec.events.push(event);
    if (rec.events.length > this.maxPerHub) rec.events.splice(0, rec.events.length - this.maxPerHub);
    for (const l of [...(this.listeners.get(hubKey(namespace, hub)) ?? [])]) l(event);
    return event;
  }

  /** Events of a hub, oldest first, optionally only those enqueued at or after `since`. */
  read(namespace: string, hub: string, opts: { since?: Date; partitionId?: string } = {}): StoredEvent[] {
    const rec = this.hubRecord(namespace, hub, false);
    if (!rec) return [];
    const since = opts.since?.getTime();
    return rec.events.filter((e) => (since === undefined || Date.parse(e.enqueuedTimeUtc) >= since) && (opts.partitionId === undefined || e.partitionId === opts.partitionId));
  }

  /** Calls `listener` for every event appended to the hub from now on; returns the unsubscribe. */
  subscribe(namespace: string, hub: string, listener: EventListener): () => void {
    const k = hubKey(namespace, hub);
    let set = this.listeners.get(k);
    if (!set) this.listeners.set(k, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(k);
    };
  }

  /** The last sequence number and offset handed out in a partition (-1 / "-1" when none yet). */
  lastEnqueued(namespace: string, hub: string, partitionId: string): { sequenceNumber: number; offset: string; enqueuedTimeUtc?: string } {
    const rec = this.hubRecord(namespace, hub, false);
    const last = rec?.events.findLast((e) => e.partitionId === partitionId);
    const seq = (rec?.next[partitionId]?.sequenceNumber ?? 0) - 1;
    return { sequenceNumber: seq, offset: last?.offset ?? "-1", enqueuedTimeUtc: last?.enqueuedTimeUtc };
  }

  /** Drops a deleted hub's events (or, without `hub`, every hub's and the key of a deleted namespace). */
  forget(namespace: string, hub?: string): void {
    const all = this.state.eventHubEvents ?? {};
    for (const [k, rec] of Object.entries(all)) {
      if (rec.namespace.toLowerCase() === namespace.toLowerCase() && (hub === undefined || rec.hub.toLowerCase() === hub.toLowerCase())) delete all[k];
    }
    if (hub === undefined) delete this.state.eventHubKeys?.[namespace.toLowerCase()];
  }

  /** The namespace's SAS key (RootManageSharedAccessKey), created on first use and kept in the state. */
  sasKey(namespace: string): string {
    const keys = (this.state.eventHubKeys ??= {});
    return (keys[namespace.toLowerCase()] ??= randomBytes(32).toString("base64"));
  }

  private hubRecord(namespace: string, hub: string, create: boolean): HubEvents | undefined {
    const all = (this.state.eventHubEvents ??= {});
    const k = hubKey(namespace, hub);
    if (!all[k] && create) all[k] = { namespace, hub, events: [], next: {}, cursor: 0 };
    return all[k];
  }
}

function hubKey(namespace: string, hub: string): string {
  return `${namespace.toLowerCase()}/${hub.toLowerCase()}`;
}

/** A stable string hash for partition keys (any stable spread will do; Azure's is not public API). */
function hashKey(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}
