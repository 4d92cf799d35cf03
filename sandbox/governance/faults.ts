// Listener-wide fault modes for the Dataverse and Graph stand-ins, switched on demand through
// `POST /_sandbox/faults` so tests can drive the gateway's failure paths (store unreachable, slow
// past the send-request timeout, 5xx, throttled). Unlike ARM's per-request faults these are modes:
// they stay until `ok` clears them, because a gateway test makes many reads per scenario.
import { setTimeout as sleep } from "node:timers/promises";
import { json, type Reply, type Req } from "../http.js";

export type FaultMode = "ok" | "down" | "slow" | "error" | "throttle";

export interface FaultState {
  mode: FaultMode;
  delayMs?: number;
  status?: number;
  retryAfterSeconds?: number;
}

const MODES: FaultMode[] = ["ok", "down", "slow", "error", "throttle"];

/** Error bodies in the dialect of the service being faked. */
export interface FaultBodies {
  error(status: number): Reply;
  throttle(retryAfterSeconds: number): Reply;
}

export class ListenerFaults {
  state: FaultState = { mode: "ok" };

  constructor(private readonly bodies: FaultBodies) {}

  /** `POST /_sandbox/faults` and `GET /_sandbox/faults`. */
  admin = (req: Req): Reply => {
    if (req.method === "GET") return json(200, this.state);
    const b = req.body as Partial<FaultState> | undefined;
    if (!b || typeof b !== "object" || !MODES.includes(b.mode as FaultMode)) {
      return json(400, { error: { code: "BadRequest", message: `Body must be {"mode": one of ${MODES.join(", ")}, "delayMs"?, "status"?, "retryAfterSeconds"?}.` } });
    }
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
    if (b.mode === "slow" && num(b.delayMs) === undefined) return json(400, { error: { code: "BadRequest", message: "mode slow needs delayMs (milliseconds, >= 0)." } });
    if (b.status !== undefined && (typeof b.status !== "number" || b.status < 400 || b.status > 599)) {
      return json(400, { error: { code: "BadRequest", message: "status must be an HTTP error status (400-599)." } });
    }
    this.state = b.mode === "ok" ? { mode: "ok" } : { mode: b.mode as FaultMode, delayMs: num(b.delayMs), status: b.status, retryAfterSeconds: num(b.retryAfterSeconds) };
    return json(200, this.state);
  };

  /**
   * Applies the current mode to a data request: a reply to send instead (or a connection reset),
   * or undefined to serve normally. `slow` waits, then serves normally.
   */
  async apply(): Promise<Reply | undefined> {
    const s = this.state;
    switch (s.mode) {
      case "down":
        return { status: 0, reset: true };
      case "slow":
        await sleep(s.delayMs ?? 0);
        return undefined;
      case "error":
        return this.bodies.error(s.status ?? 503);
      case "throttle": {
        const reply = this.bodies.throttle(s.retryAfterSeconds ?? 1);
        if (s.status) reply.status = s.status;
        return reply;
      }
      default:
        return undefined;
    }
  }
}
