// Receiver epochs (the SDKs' "owner level"), per consumer group and partition, as Event Hubs
// enforces them: a receiver attaching with epoch e displaces every receiver with an epoch ≤ e and
// every receiver without one; one with a lower epoch than a receiver already reading is refused,
// and so is one without an epoch while any receiver with an epoch reads ("non-epoch receiver is not
// allowed"). All with `amqp:link:stolen`, which the SDKs read as ReceiverDisconnectedError. Their
// event processors attach with epoch 0, so the instance that claims a partition stops the one that
// read it before: that is how a partition changes hands. It is also why aeg sink (an event
// processor) and aeg validate (no epoch) need consumer groups of their own.

export interface LinkLike {
  is_open(): boolean;
  close(error: { condition: string; description: string }): void;
}

interface Reader {
  link: LinkLike;
  epoch: number | undefined;
}

export const EPOCH_PROPERTY = "com.microsoft:epoch";

/** The epoch an attach frame asks for (`properties["com.microsoft:epoch"]`, a long), or undefined. */
export function epochOf(properties: unknown): number | undefined {
  const raw = (properties as Record<string, unknown> | undefined)?.[EPOCH_PROPERTY];
  if (raw === undefined || raw === null) return undefined;
  const n = typeof raw === "object" && raw !== null && "value" in raw ? Number((raw as { value: unknown }).value) : Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

export class Epochs {
  private readonly readers = new Map<string, Set<Reader>>();

  /**
   * Admits a receiver on `scope` (namespace/hub/consumer group/partition): displaces whom it
   * outranks and answers undefined, or answers the error to refuse it with.
   */
  admit(scope: string, link: LinkLike, epoch: number | undefined, what: string): { condition: string; description: string } | undefined {
    const readers = this.live(scope);
    const epochs = [...readers].flatMap((r) => (r.epoch === undefined ? [] : [r.epoch]));
    const top = Math.max(-Infinity, ...epochs);
    if (epoch === undefined && epochs.length > 0) {
      return { condition: "amqp:link:stolen", description: `A receiver with epoch '${top}' reads ${what}, and so non-epoch receiver is not allowed. Attach with an epoch, or read another consumer group.` };
    }
    if (epoch !== undefined) {
      if (epoch < top) return { condition: "amqp:link:stolen", description: `A receiver with the higher epoch '${top}' reads ${what}; this receiver's epoch is '${epoch}'.` };
      for (const r of [...readers]) {
        readers.delete(r);
        r.link.close({ condition: "amqp:link:stolen", description: `A new receiver with epoch '${epoch}' attached to ${what}, so this receiver ${r.epoch === undefined ? "without an epoch" : `with epoch '${r.epoch}'`} is disconnected.` });
      }
    }
    readers.add({ link, epoch });
    this.readers.set(scope, readers);
    return undefined;
  }

  /** Forgets a receiver that detached or whose connection went away. */
  release(scope: string, link: LinkLike): void {
    const readers = this.readers.get(scope);
    if (!readers) return;
    for (const r of readers) if (r.link === link) readers.delete(r);
    if (readers.size === 0) this.readers.delete(scope);
  }

  /** The scope's readers whose links are still open (a killed client's may linger until its socket closes). */
  private live(scope: string): Set<Reader> {
    const readers = this.readers.get(scope) ?? new Set<Reader>();
    for (const r of readers) if (!r.link.is_open()) readers.delete(r);
    return readers;
  }
}
