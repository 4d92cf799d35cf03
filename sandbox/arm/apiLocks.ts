// APIM's API-level lock. While a write on an API or anything under it (operations, the API's
// policy, operation policies) runs, including the long-running operation of an API PUT and a
// short settle after it, another write under the same API is refused with 409
// PessimisticConcurrencyConflict, "Operation on the API is in progress" (Azure/apiops#141, #379,
// #497; Azure/apiops-cli#252 for the settle after a reported success). Writes of other entities
// (named values, fragments, loggers, other APIs) take no such lock and are served side by side:
// APIOps writes named values in parallel (Azure/apiops tools/code/publisher/NamedValue.cs).
import type { Reply } from "../http.js";

/** APIM's own body for the refusal, `details: null` included. */
export function apiInProgressReply(): Reply {
  return { status: 409, body: { error: { code: "PessimisticConcurrencyConflict", message: "Operation on the API is in progress", details: null } } };
}

/** The lock a write takes: its service and API, lower-cased, a revision (`;rev=N`) sharing its API's; none outside an API. */
export function apiLockKey(path: string): string | undefined {
  const m = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)\/providers\/microsoft\.apimanagement\/service\/([^/]+)\/apis\/([^/]+)(\/.*)?$/i.exec(path);
  if (!m) return undefined;
  const api = decodeURIComponent(m[3]!).replace(/;rev=.*$/i, "");
  return `${m[1]}/${m[2]}/${api}`.toLowerCase();
}

export class ApiLocks {
  /** Per API: writes running under it, and when its last one (with its LRO and settle) is over. */
  private readonly held = new Map<string, { writes: number; until: number }>();

  constructor(
    /** How long an API stays locked after its last write (and that write's LRO) ended. */
    readonly settleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes the API's lock for one write; false when another write holds it. */
  enter(key: string): boolean {
    const lock = this.held.get(key);
    if (lock && (lock.writes > 0 || lock.until > this.now())) return false;
    this.held.set(key, { writes: 1, until: 0 });
    return true;
  }

  /**
   * Releases a write's hold. `operationEndsAt`: when the long-running operation it started ends
   * (the lock lasts until then, plus the settle); a refused write releases at once.
   */
  leave(key: string, outcome: { accepted: boolean; operationEndsAt?: number }): void {
    const lock = this.held.get(key);
    if (!lock) return;
    lock.writes--;
    if (outcome.accepted) lock.until = Math.max(lock.until, (outcome.operationEndsAt ?? this.now()) + this.settleMs);
    if (lock.writes === 0 && lock.until <= this.now()) this.held.delete(key);
  }
}
