import { setTimeout as sleep } from "node:timers/promises";
import type { TokenCredential } from "@azure/core-auth";
import { EventHubConsumerClient, type Subscription } from "@azure/event-hubs";
import { ExitCode, UserError } from "../errors.js";
import type { DecisionRecordSource } from "./run.js";

export interface EventHubTarget {
  /** e.g. ehns-x.servicebus.windows.net */
  fullyQualifiedNamespace: string;
  eventHub: string;
  consumerGroup: string;
  /** Where to connect when it is not the namespace itself (a private endpoint, or the sandbox). */
  customEndpointAddress?: string;
}

/**
 * Reads decision records from the Event Hub with the real client, from the run's start time on,
 * on every partition, keyed by correlation id. Starts listening before the first call so nothing
 * sent during the run is missed.
 */
export class EventHubRecords implements DecisionRecordSource {
  private readonly seen = new Map<string, Array<Record<string, unknown>>>();
  private readonly client: EventHubConsumerClient;
  private readonly subscription: Subscription;
  private lastError: Error | undefined;
  /** Event Hubs refused the group itself: no record can come, so collect stops at once. */
  private refused: UserError | undefined;
  private waiters: Array<() => void> = [];

  constructor(target: EventHubTarget, credential: TokenCredential, since: Date) {
    this.client = new EventHubConsumerClient(target.consumerGroup, target.fullyQualifiedNamespace, target.eventHub, credential, {
      ...(target.customEndpointAddress ? { customEndpointAddress: target.customEndpointAddress } : {}),
      retryOptions: { maxRetries: 3, timeoutInMs: 30_000 },
    });
    this.subscription = this.client.subscribe(
      {
        processEvents: async (events) => {
          for (const event of events) this.add(event.body);
          this.wake();
        },
        processError: async (err, context) => {
          this.lastError = err;
          this.refused ??= refusal(err, target, context.partitionId);
          this.wake();
        },
      },
      { startPosition: { enqueuedOn: since }, maxWaitTimeInSeconds: 1 },
    );
  }

  private add(body: unknown): void {
    let record: Record<string, unknown> | undefined;
    try {
      record = (typeof body === "string" ? JSON.parse(body) : body) as Record<string, unknown>;
    } catch {
      return; // not a decision record (the hub may carry other events)
    }
    const id = typeof record?.correlationId === "string" ? record.correlationId : undefined;
    if (!id) return;
    this.seen.set(id, [...(this.seen.get(id) ?? []), record]);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  async collect(correlationIds: string[], deadlineMs: number): Promise<Map<string, Array<Record<string, unknown>>>> {
    const until = Date.now() + deadlineMs;
    while (!this.refused && correlationIds.some((id) => !this.seen.has(id)) && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(1000, Math.max(0, until - Date.now())));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.refused) throw this.refused;
    // A duplicate would arrive right behind the first: give it a moment before judging "exactly one".
    await sleep(Math.min(1500, deadlineMs / 10));
    if (correlationIds.every((id) => !this.seen.has(id)) && this.lastError) throw this.lastError;
    return new Map(correlationIds.map((id) => [id, this.seen.get(id) ?? []]));
  }

  async close(): Promise<void> {
    await this.subscription.close();
    await this.client.close();
  }
}

/**
 * The group-level refusals, as one line naming the field. Validate reads without an epoch, so a
 * disconnect can only come from an epoch reader (an event processor such as aeg sink) on its group;
 * a receiver's "not found" once the partitions are known means the group is missing.
 */
function refusal(err: Error & { code?: string }, target: EventHubTarget, partitionId: string): UserError | undefined {
  if (err.code === "ReceiverDisconnectedError") {
    return new UserError(
      `validation.consumerGroup: Event Hubs refuses validate on '${target.consumerGroup}' while an event processor (aeg sink?) reads it with an epoch`,
      ExitCode.usage,
      "Give validate another consumer group than the sink's (telemetry.sinkConsumerGroup or aeg sink --consumer-group); on the Basic tier, which has only $Default, stop the sink to validate.",
    );
  }
  if (err.code === "MessagingEntityNotFoundError" && partitionId) {
    return new UserError(`validation.consumerGroup: event hub '${target.eventHub}' has no consumer group '${target.consumerGroup}'`, ExitCode.usage, "Create it on the hub, or use $Default.");
  }
  return undefined;
}
