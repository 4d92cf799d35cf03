/**
 * Runs a step's writes concurrently, within what the service allows. The order is data on each
 * change, computed by its step: `after` names the resources that must be written first, `lock`
 * a key no two writes may hold at once (APIM's API-level lock). Writes to the APIM instance
 * (`apimWrite`) share one bound across every step running at the same time, and start within a
 * token bucket: `burst` at once, then `writesPerSecond` a second.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError } from "../errors.js";

/** What the scheduler reads of a change. */
export interface ScheduledWrite {
  resource: string;
  apimWrite?: boolean;
  /**
   * Resources of the same step written before this one. Absent: every earlier write of the step
   * (a step that says nothing keeps its plan order). Resources the batch does not write are done.
   */
  after?: string[];
  lock?: string;
}

/**
 * The bound on concurrent APIM writes when nothing says otherwise (README, "Concurrency"): APIM's
 * named-value and fragment writes run for seconds, so 32 in flight start about 6 a second, within
 * ARM's write budget below; fewer leaves a 500-agent setup waiting on named values.
 */
export const DEFAULT_MAX_PARALLEL_WRITES = 32;

/**
 * ARM meters a principal's writes per subscription and region with a token bucket of 200, refilled
 * at 10 a second (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling;
 * deletes have a bucket of their own of the same size). aeg spends at most half the bucket in a
 * burst, leaving the rest to whatever else the same principal runs (and to trial subscriptions,
 * whose limits the page says may be lower), then starts writes at the refill rate: fast writes
 * (deletes, policies) are never throttled, and a small setup is not slowed down for nothing.
 */
export const DEFAULT_WRITES_PER_SECOND = 10;
export const DEFAULT_WRITE_BURST = 100;

export interface Clock {
  now(): number;
  after(ms: number): Promise<void>;
}

const REAL_CLOCK: Clock = { now: () => Date.now(), after: (ms) => sleep(ms) };

/** The bound from `AEG_MAX_PARALLEL_WRITES`, or the default; a value that is not a whole number ≥ 1 is a usage error. */
export function maxParallelWritesFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.AEG_MAX_PARALLEL_WRITES;
  if (raw === undefined || raw.trim() === "") return DEFAULT_MAX_PARALLEL_WRITES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new ConfigError([`AEG_MAX_PARALLEL_WRITES: '${raw}' is not a whole number from 1 to 64`], `Unset it for the default (${DEFAULT_MAX_PARALLEL_WRITES}), or set 1 to write one at a time.`);
  }
  return n;
}

export class WriteScheduler {
  private apimRunning = 0;
  private readonly locks = new Set<string>();
  /** Batches waiting on a slot, a lock or the pace: woken when one frees. */
  private readonly waiting = new Set<() => void>();
  /** The pace's token bucket: writes that may start now, as of `refilledAt`. */
  private tokens: number;
  private refilledAt: number;
  private readonly burst: number;
  private wakeScheduled = false;
  private readonly writesPerSecond: number;
  private readonly clock: Clock;

  constructor(
    readonly maxParallelWrites: number = DEFAULT_MAX_PARALLEL_WRITES,
    pace: { writesPerSecond?: number; burst?: number; clock?: Clock } = {},
  ) {
    if (!Number.isInteger(maxParallelWrites) || maxParallelWrites < 1) throw new RangeError(`maxParallelWrites must be a whole number of at least 1, not ${maxParallelWrites}`);
    this.writesPerSecond = pace.writesPerSecond ?? DEFAULT_WRITES_PER_SECOND;
    this.clock = pace.clock ?? REAL_CLOCK;
    this.burst = pace.burst ?? DEFAULT_WRITE_BURST;
    this.tokens = this.burst;
    this.refilledAt = this.clock.now();
  }

  /**
   * Writes `writes` with `write`, each once, in an order that honours `after`, `lock` and the
   * bound. After a failure no further write of the batch starts; those running finish, then the
   * first failure is thrown.
   */
  run<W extends ScheduledWrite>(writes: readonly W[], write: (w: W) => Promise<void>): Promise<void> {
    const needs = dependencies(writes);
    const state: Array<"waiting" | "running" | "done"> = writes.map(() => "waiting");
    let running = 0;
    let failure: { error: unknown } | undefined;
    return new Promise<void>((resolve, reject) => {
      const pump = (): void => {
        for (let i = 0; i < writes.length && !failure; i++) {
          if (state[i] === "waiting" && needs[i]!.every((j) => state[j] === "done") && this.canStart(writes[i]!)) start(i);
        }
        if (running > 0) return;
        if (failure || state.every((s) => s === "done")) {
          this.waiting.delete(pump);
          if (failure) reject(failure.error);
          else resolve();
        }
      };
      const start = (i: number): void => {
        const w = writes[i]!;
        state[i] = "running";
        running++;
        this.take(w);
        void (async () => {
          try {
            await write(w);
            state[i] = "done";
          } catch (error) {
            failure ??= { error };
          } finally {
            running--;
            this.release(w);
          }
        })();
      };
      this.waiting.add(pump);
      pump();
    });
  }

  private canStart(w: ScheduledWrite): boolean {
    if (w.lock !== undefined && this.locks.has(w.lock)) return false;
    if (!w.apimWrite) return true;
    if (this.apimRunning >= this.maxParallelWrites) return false;
    const wait = this.paceWait();
    if (wait > 0) this.wakeIn(wait);
    return wait === 0;
  }

  /** ms until another APIM write may start under the pace; 0 now. */
  private paceWait(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.writesPerSecond) / 1000);
    this.refilledAt = now;
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.writesPerSecond);
  }

  private wakeIn(ms: number): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    void this.clock.after(ms).then(() => {
      this.wakeScheduled = false;
      for (const pump of [...this.waiting]) pump();
    });
  }

  private take(w: ScheduledWrite): void {
    if (w.lock !== undefined) this.locks.add(w.lock);
    if (w.apimWrite) {
      this.apimRunning++;
      this.tokens--;
    }
  }

  private release(w: ScheduledWrite): void {
    if (w.lock !== undefined) this.locks.delete(w.lock);
    if (w.apimWrite) this.apimRunning--;
    for (const pump of [...this.waiting]) pump();
  }
}

/** For each write, the indexes of the writes it waits for. Throws on a cycle. */
export function dependencies(writes: readonly ScheduledWrite[]): number[][] {
  const byResource = new Map<string, number[]>();
  writes.forEach((w, i) => byResource.set(w.resource, [...(byResource.get(w.resource) ?? []), i]));
  const needs = writes.map((w, i) => (w.after === undefined ? [...Array(i).keys()] : [...new Set(w.after.flatMap((r) => byResource.get(r) ?? []))].filter((j) => j !== i)));
  // Kahn's algorithm: every write must become startable once those before it are done.
  const left = needs.map((n) => n.length);
  const ready = left.flatMap((n, i) => (n === 0 ? [i] : []));
  let placed = 0;
  while (ready.length > 0) {
    const i = ready.pop()!;
    placed++;
    needs.forEach((n, j) => {
      if (n.includes(i) && --left[j]! === 0) ready.push(j);
    });
  }
  if (placed !== writes.length) throw new Error(`the writes' order has a cycle: ${writes.filter((_, i) => left[i]! > 0).map((w) => w.resource).join(", ")}`);
  return needs;
}
