import type { TokenCredential } from "@azure/core-auth";
import { earliestEventPosition, EventHubConsumerClient, type CheckpointStore, type LoadBalancingOptions, type PartitionContext, type ReceivedEventData, type Subscription } from "@azure/event-hubs";
import { ExitCode, PermissionError, UserError } from "../errors.js";
import { toDecisionRow, type DecisionRow } from "./record.js";
import type { DecisionLogWriter, WriteMode } from "./writer.js";

export interface SinkSource {
  fullyQualifiedNamespace: string;
  eventHub: string;
  consumerGroup: string;
  /** Where the group was named (`--consumer-group` or `telemetry.sinkConsumerGroup`), for errors. */
  consumerGroupFrom?: string;
  customEndpointAddress?: string;
}

export interface SinkOptions {
  /** Drain what is in the hub now, then stop. */
  once: boolean;
  batchSize: number;
  flushIntervalMs: number;
  /** How partitions are claimed: all at once for one instance, shared for a blob store. */
  loadBalancing: LoadBalancingOptions;
  /** This instance's owner id in the checkpoint store (unique per process). */
  ownerId?: string;
  log(line: string): void;
}

export interface SinkSummary {
  received: number;
  written: number;
  poison: number;
  batches: number;
  throttled: number;
  /** UpsertMultiple, or $batch where the environment lacks it. */
  writeMode: WriteMode;
}

interface Waiting {
  row: DecisionRow;
  /** When it was read (ms): a row waits at most flushIntervalMs for its batch to fill. */
  at: number;
  done(err?: unknown): void;
}

/**
 * The downstream component: every decision record in the hub becomes one row of fsi_aegdecisionlog.
 * A partition is checkpointed only after every row of the events before the checkpoint has been
 * written, so a sink killed at any moment re-reads at most what was in flight, and the upserts make
 * that replay harmless: nothing is lost, nothing is duplicated. With a shared store, an instance
 * that lost a partition may still checkpoint the batch it was writing, setting the checkpoint back
 * a little: the next reader re-reads those events, and the upserts absorb that too.
 */
export class DecisionSink {
  private readonly client: EventHubConsumerClient;
  private subscription: Subscription | undefined;
  private readonly buffer: Waiting[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** Write requests in flight, at most the writer's parallelism. */
  private readonly writing = new Set<Promise<void>>();
  /** Event handlers still running (they checkpoint after their rows are written). */
  private readonly handling = new Set<Promise<void>>();
  private stopping = false;
  private fatal: unknown;
  private readonly counts = { received: 0, written: 0, poison: 0 };
  /** For --once: the last sequence number each partition held at start, and how far we are. */
  private targets = new Map<string, number>();
  private readonly done = new Map<string, number>();
  /** For --once: re-reads the store's checkpoints each second (other instances' progress counts too). */
  private drainPoll: NodeJS.Timeout | undefined;
  private finished!: () => void;
  private readonly finishedPromise = new Promise<void>((resolve) => (this.finished = resolve));

  constructor(
    private readonly source: SinkSource,
    credential: TokenCredential,
    private readonly store: CheckpointStore,
    private readonly writer: DecisionLogWriter,
    private readonly opts: SinkOptions,
  ) {
    this.client = new EventHubConsumerClient(source.consumerGroup, source.fullyQualifiedNamespace, source.eventHub, credential, store, {
      ...(source.customEndpointAddress ? { customEndpointAddress: source.customEndpointAddress } : {}),
      ...(opts.ownerId ? { identifier: opts.ownerId } : {}),
      loadBalancingOptions: opts.loadBalancing,
      retryOptions: { maxRetries: 5, timeoutInMs: 30_000 },
    });
  }

  get summary(): SinkSummary {
    return { ...this.counts, batches: this.writer.stats.batches, throttled: this.writer.stats.throttled, writeMode: this.writer.mode };
  }

  /** Runs until `stop()` (or, with `once`, until drained); rejects on a fatal error after a clean stop. */
  async run(): Promise<SinkSummary> {
    await this.writer.prime();
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
      // Partitions other instances own drain through their checkpoints: read them from the store.
      else this.drainPoll = setInterval(() => void this.refreshDone(), 1000);
    }
    this.subscription = this.client.subscribe(
      {
        processEvents: (events, context) => {
          const handled = this.process(events, context);
          this.handling.add(handled);
          return handled.finally(() => this.handling.delete(handled));
        },
        processInitialize: async (context) => this.opts.log(`partition ${context.partitionId}: reading`),
        processClose: async (reason, context) => this.opts.log(`partition ${context.partitionId}: released (${reason})`),
        processError: async (err, context) => {
          // The checkpoint store's refusals (role missing, no container) stop the sink with their exit code.
          if (err instanceof UserError) this.fail(err);
          else if (isUnauthorized(err)) this.fail(eventHubsPermission(err));
          // A partition's receiver: the hub is there (its partitions were listed), so the group is not.
          else if (isEntityNotFound(err) && context.partitionId) this.fail(missingConsumerGroup(this.source));
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
    }
  }

  private poison(partitionId: string, sequenceNumber: number, reason: string, correlationId?: string): void {
    this.counts.poison++;
    this.opts.log(`poison event skipped: partition ${partitionId} sequence ${sequenceNumber}${correlationId ? ` correlationId ${correlationId}` : ""}: ${reason}`);
  }

  private async refreshDone(): Promise<void> {
    try {
      for (const c of await this.store.listCheckpoints(this.client.fullyQualifiedNamespace, this.client.eventHubName, this.source.consumerGroup)) {
        if (c.sequenceNumber > (this.done.get(c.partitionId) ?? -1)) this.done.set(c.partitionId, c.sequenceNumber);
      }
      if (this.drained()) this.stop();
    } catch (err) {
      // A refusal stops the run; a storage hiccup waits for the next look.
      if (err instanceof UserError) this.fail(err);
      else this.opts.log(`checkpoint store: ${(err as Error).message}`);
    }
  }

  private drained(): boolean {
    return [...this.targets].every(([id, target]) => (this.done.get(id) ?? -1) >= target);
  }

  private enqueue(row: DecisionRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buffer.push({ row, at: Date.now(), done: (err) => (err ? reject(err) : resolve()) });
      // A partial batch already has its timer; a full one (or the first row) needs the pump now.
      if (this.buffer.length >= this.opts.batchSize || !this.flushTimer) this.pump();
    });
  }

  /**
   * Starts writes while a slot is free and there is a full batch, or rows that waited
   * flushIntervalMs (or, with `drain`, any row). Slots are the writer's parallelism, which follows
   * Dataverse's x-ms-dop-hint: each partition's rows can be in flight while others are written.
   */
  private pump(drain = false): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const due = () => drain || Date.now() - this.buffer[0]!.at >= this.opts.flushIntervalMs;
    while (this.buffer.length > 0 && this.writing.size < this.writer.parallelism && (this.buffer.length >= this.opts.batchSize || due())) {
      const started = this.writeBatch(this.buffer.splice(0, this.opts.batchSize)).finally(() => {
        this.writing.delete(started);
        this.pump();
      });
      this.writing.add(started);
    }
    // A partial batch not yet due waits for its time; one that is due waits for a slot (a write ending pumps).
    if (this.buffer.length > 0 && !due()) this.flushTimer = setTimeout(() => this.pump(), this.buffer[0]!.at + this.opts.flushIntervalMs - Date.now());
  }

  private async writeBatch(batch: Waiting[]): Promise<void> {
    if (this.fatal) {
      batch.forEach((w) => w.done(this.fatal));
      return;
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

  private fail(err: unknown): void {
    if (!this.fatal) this.fatal = err;
    this.stop();
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.drainPoll);
    // Write what was read, let handlers checkpoint it, then let go of the hub.
    for (this.pump(true); this.writing.size > 0; this.pump(true)) await Promise.race(this.writing);
    await Promise.allSettled([...this.handling]);
    await this.subscription?.close();
    await this.client.close();
  }
}

function isUnauthorized(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  return e.code === "UnauthorizedError" || e.name === "UnauthorizedError" || /\bunauthori[sz]ed\b|status 401/i.test(e.message ?? "");
}

function isEntityNotFound(err: unknown): boolean {
  return (err as { code?: string }).code === "MessagingEntityNotFoundError";
}

function missingConsumerGroup(source: SinkSource): UserError {
  const from = source.consumerGroupFrom ?? "--consumer-group";
  return new UserError(
    `${from}: event hub '${source.eventHub}' has no consumer group '${source.consumerGroup}'`,
    ExitCode.usage,
    from === "--consumer-group" ? "Pass a group the hub has, or set it as telemetry.sinkConsumerGroup and run aeg setup to create it." : "Run aeg setup to create it.",
  );
}

function eventHubsPermission(err: unknown): PermissionError {
  return new PermissionError(`Event Hubs refused the sink's identity: ${(err as Error).message}`, "Assign it Azure Event Hubs Data Receiver on the hub (or its namespace).");
}
