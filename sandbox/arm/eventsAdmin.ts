// Admin routes for tests (ARM listener, no auth): events stored for an Event Hub, and gateway counters.
import { json, type Reply, type Req } from "../http.js";
import type { ArmContext } from "./common.js";

/** Handles `/_sandbox/eventhubs/…` and `/_sandbox/gateway`; undefined for other admin paths. */
export function eventsAdmin(req: Req, ctx: ArmContext): Reply | undefined {
  const m = /^\/_sandbox\/eventhubs\/([^/]+)\/([^/]+)\/events$/i.exec(req.path);
  if (m && req.method === "GET") {
    const sinceText = req.query.get("since");
    const since = sinceText ? new Date(sinceText) : undefined;
    if (since && Number.isNaN(since.getTime())) return json(400, { error: { code: "BadRequest", message: `'since' is not an ISO time: '${sinceText}'.` } });
    const [ns, hub] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
    return json(200, { events: ctx.events?.read(ns, hub, { since }) ?? [] });
  }
  if (/^\/_sandbox\/gateway$/i.test(req.path) && req.method === "GET") return json(200, ctx.gatewayStats?.() ?? {});
  return undefined;
}
