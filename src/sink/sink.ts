import type { TokenCredential } from "@azure/core-auth";
import { earliestEventPosition, EventHubConsumerClient, type PartitionContext, type ReceivedEventData, type Subscription } from "@azure/event-hubs";
import { PermissionError } from "../errors.js";
import type { FileCheckpointStore } from "./checkpoint-store.js";
import { toDecisionRow, type DecisionRow } from "./record.js";
import type { DecisionLogWriter } from "./writer.js";

export interface SinkSource {
  fullyQualifiedNamespace: string;
  eventHub: string;
  consumerGroup: string;
  customEndpointAddress?: string;
}

export interface SinkOptions {
  /** Drain what is in the hub now, then stop. */
  once: boolean;
  batchSize: number;
  flushIntervalMs: number;
  log(line: string): void;
}

export interface SinkSummary {
  received: number;
  written: number;
  poison: number;
  batches: number;
  throttled: number;
}

interface Waiting {
  row: DecisionRow;
  done(err?: unknown): void;
}

/**
 * The downstream component: every decision record in the hub becomes one row of fsi_aegdecisionlog.
 * A partition is checkpointed only after every row of the events before the checkpoint has been
 * written, so a sink killed at any moment re-reads at most what was in flight, and the upserts make
 * that replay harmless: nothing is lost, nothing is duplicated.
 */
export class DecisionSink {
  private readonly client: EventHubConsumerClient;
  private subscription: Subscription | undefined;
  private readonly buffer: Waiting[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopping = false;
  private fatal: unknown;
  private inFlight = 0;
  private readonly counts = { received: 0, written: 0, poison: 0 };
  /** For --once: the last sequence number each partition held at start, and how far we are. */
  private targets = new Map<string, number>();
  private readonly done = new Map<string, number>();
  private finished!: () => void;
  private readonly finishedPromise = new Promise<void>((resolve) => (this.finished = resolve));

  constructor(
    private readonly source: SinkSource,
    credential: TokenCredential,
    private readonly store: FileCheckpointStore,
    private readonly writer: DecisionLogWriter,
    private readonly opts: SinkOptions,
  ) {
    this.client = new EventHubConsumerClient(source.consumerGroup, source.fullyQualifiedNamespace, source.eventHub, credential, store, {
      ...(source.customEndpointAddress ? { customEndpointAddress: source.customEndpointAddress } : {}),
      // One sink per checkpoint directory: take every partition at once instead of one per interval.
      loadBalancingOptions: { strategy: "greedy", updateIntervalInMs: 2000 },
      retryOptions: { maxRetries: 5, timeoutInMs: 30_000 },
    });
  }

  get summary(): SinkSummary {
    return { ...this.counts, batches: this.writer.stats.batches, throttled: this.writer.stats.throttled };
  }

  /** Runs until `stop()` (or, with `once`, until drained); rejects on a fatal error after a clean stop. */
  async run(): Promise<SinkSummary> {
    if (this.opts.once) {
      try {
        await this.client.getPartitionIds();
      } catch (err) {
        await this.client.close();
        throw isUnauthorized(err) ? eventHubsPermission(err) : err;
      }
      // The client keys checkpoints by the host it connects to (the custom endpoint's, when set).
      const checkpoints = await this.store.listCheckpoints(this.client.fullyQualifiedNamespace, this.client.eventHubName, this.source.consumerGroup);
      for (const id of await this.client.getPartitionIds()) {
        const p = await this.client.getPartitionProperties(id);
        this.targets.set(id, p.isEmpty ? -1 : p.lastEnqueuedSequenceNumber);
        this.done.set(id, checkpoints.find((c) => c.partitionId === id)?.sequenceNumber ?? -1);
      }
      if (this.drained()) this.finished();
    }
    this.subscription = this.client.subscribe(
      {
        processEvents: (events, context) => this.process(events, context),
        processError: async (err, context) => {
          if (isUnauthorized(err)) this.fail(eventHubsPermission(err));
          else this.opts.log(`event hub${context.partitionId ? ` partition ${context.partitionId}` : ""}: ${err.message}`);
        },
      },
      { startPosition: earliestEventPosition, maxBatchSize: this.opts.batchSize, maxWaitTimeInSeconds: 1 },
    );
    await this.finishedPromise;
    await this.shutdown();
    if (this.fatal) throw this.fatal;
    return this.summary;
  }

  /** Graceful stop: rows already read are written and checkpointed; nothing new is taken. */
  stop(): void {
    this.stopping = true;
    this.finished();
  }

  private async process(events: ReceivedEventData[], context: PartitionContext): Promise<void> {
    if (this.stopping || this.fatal || events.length === 0) return;
    this.inFlight++;
    try {
      const rows: DecisionRow[] = [];
      for (const event of events) {
        this.counts.received++;
        const parsed = toDecisionRow(event.body);
        if (parsed.ok) rows.push(parsed.row);
        else this.poison(context.partitionId, event.sequenceNumber, parsed.reason, parsed.correlationId);
      }
      await Promise.all(rows.map((row) => this.enqueue(row)));
      if (this.fatal) return; // never checkpoint past a row that was not written
      const last = events[events.length - 1]!;
      await context.updateCheckpoint(last);
      this.done.set(context.partitionId, last.sequenceNumber);
      if (this.opts.once && this.drained()) this.stop();
    } catch (err) {
      this.fail(err);
    } finally {
      this.inFlight--;
    }
  }

  private poison(partitionId: string, sequenceNumber: number, reason: string, correlationId?: string): void {
    this.counts.poison++;
    this.opts.log(`poison event skipped: partition ${partitionId} sequence ${sequenceNumber}${correlationId ? ` correlationId ${correlationId}` : ""}: ${reason}`);
  }

  private drained(): boolean {
    return [...this.targets].every(([id, target]) => (this.done.get(id) ?? -1) >= target);
  }

  private enqueue(row: DecisionRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buffer.push({ row, done: (err) => (err ? reject(err) : resolve()) });
      if (this.buffer.length >= this.opts.batchSize) this.flushSoon(0);
      else if (!this.flushTimer) this.flushSoon(this.opts.flushIntervalMs);
    });
  }

  private flushSoon(ms: number): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, ms);
  }

  /** Writes what is buffered, one batch at a time (one request in flight keeps far below the concurrency limit). */
  private async flush(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.opts.batchSize);
      if (this.fatal) {
        batch.forEach((w) => w.done(this.fatal));
        continue;
      }
      try {
        const { rejected } = await this.writer.write(batch.map((w) => w.row));
        for (const r of rejected) {
          this.counts.poison++;
          this.opts.log(`poison event skipped: correlationId ${r.row.fsi_correlationid}: Dataverse refused the row: ${r.message}`);
        }
        this.counts.written += batch.length - rejected.length;
        batch.forEach((w) => w.done());
      } catch (err) {
        this.fail(err);
        batch.forEach((w) => w.done(err));
      }
    }
  }

  private fail(err: unknown): void {
    if (!this.fatal) this.fatal = err;
    this.stop();
  }

  private async shutdown(): Promise<void> {
    // Write what was read, let handlers checkpoint it, then let go of the hub.
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushing = this.flushing.then(() => this.flush());
    await this.flushing;
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.subscription?.close();
    await this.client.close();
  }
}

function isUnauthorized(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  return e.code === "UnauthorizedError" || e.name === "UnauthorizedError" || /\bunauthori[sz]ed\b|status 401/i.test(e.message ?? "");
}

function eventHubsPermission(err: unknown): PermissionError {
  return new PermissionError(`Event Hubs refused the sink's identity: ${(err as Error).message}`, "Assign it Azure Event Hubs Data Receiver on the hub (or its namespace).");
}
