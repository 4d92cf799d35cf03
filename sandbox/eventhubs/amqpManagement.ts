// `$management` READ requests: hub runtime information (`com.microsoft:eventhub`) and partition
// runtime information (`com.microsoft:partition`), typed as the service types them (ids as a
// string array, times as timestamps, sequence numbers as longs).
import rhea from "rhea";
import type { EhNamespace } from "../store.js";
import type { EventStore } from "./store.js";

const { types } = rhea;

/** A request/response reply: AMQP status code and description, optional error condition and body. */
export interface MgmtReply {
  status: number;
  description: string;
  condition?: string;
  body?: unknown;
}

export interface MgmtContext {
  events: EventStore;
  entity: (hub: string) => { ns: EhNamespace; hub: string } | { condition: string; description: string };
  authorize: (ns: EhNamespace, hub: string, securityToken: string | undefined) => Promise<boolean>;
}

export async function handleManagement(ctx: MgmtContext, msg: { application_properties?: Record<string, unknown> }): Promise<MgmtReply> {
  const p = msg.application_properties ?? {};
  if (p["operation"] !== "READ") return { status: 400, condition: "amqp:not-implemented", description: `The operation '${String(p["operation"])}' is not supported.` };
  const target = ctx.entity(String(p["name"] ?? ""));
  if ("condition" in target) return { status: 404, condition: target.condition, description: target.description };
  const { ns, hub } = target;
  const token = typeof p["security_token"] === "string" ? p["security_token"] : undefined;
  if (!(await ctx.authorize(ns, hub, token))) {
    return { status: 401, condition: "amqp:unauthorized-access", description: `Unauthorized access. 'Listen' claim(s) are required to perform this operation. Resource: 'sb://${ns.name}.servicebus.windows.net/${hub}/$management'.` };
  }
  const ids = ctx.events.partitions(ns.name, hub)!;
  const type = String(p["type"] ?? "");
  if (type === "com.microsoft:eventhub") {
    const created = ns.eventHubs[hub.toLowerCase()]?.properties["createdAt"];
    return ok({
      name: hub,
      type,
      created_at: new Date(typeof created === "string" ? created : ns.createdAt),
      partition_count: types.wrap_int(ids.length),
      partition_ids: types.wrap_array(ids, 0xb1, undefined),
    });
  }
  if (type === "com.microsoft:partition") {
    const partition = String(p["partition"] ?? "");
    if (!ids.includes(partition)) return { status: 404, condition: "amqp:not-found", description: `The messaging entity 'sb://${ns.name}.servicebus.windows.net/${hub}/Partitions/${partition}' could not be found.` };
    const stored = ctx.events.read(ns.name, hub, { partitionId: partition });
    const last = ctx.events.lastEnqueued(ns.name, hub, partition);
    const empty = stored.length === 0;
    return ok({
      name: hub,
      type,
      partition,
      begin_sequence_number: types.wrap_long(empty ? last.sequenceNumber + 1 : stored[0]!.sequenceNumber),
      last_enqueued_sequence_number: types.wrap_long(last.sequenceNumber),
      last_enqueued_offset: last.offset,
      last_enqueued_time_utc: new Date(last.enqueuedTimeUtc ?? 0),
      is_partition_empty: empty,
    });
  }
  return { status: 400, condition: "com.microsoft:argument-error", description: `The management type '${type}' is not supported.` };
}

function ok(body: Record<string, unknown>): MgmtReply {
  return { status: 200, description: "OK", body };
}
