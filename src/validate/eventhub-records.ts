import { setTimeout as sleep } from "node:timers/promises";
import type { TokenCredential } from "@azure/core-auth";
import { EventHubConsumerClient, type Subscription } from "@azure/event-hubs";
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
        processError: async (err) => {
          this.lastError = err;
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
    while (correlationIds.some((id) => !this.seen.has(id)) && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(1000, Math.max(0, until - Date.now())));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
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
