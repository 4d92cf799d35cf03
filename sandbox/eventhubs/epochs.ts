// Receiver epochs (the SDKs' "owner level"), per consumer group and partition: a receiver
// attaching with epoch e displaces every receiver with an epoch ≤ e; one with a lower epoch than a
// receiver already reading is refused; both with `amqp:link:stolen`, which the SDKs read as
// ReceiverDisconnectedError. Their event processors attach with epoch 0, so the instance that
// claims a partition stops the one that read it before: that is how a partition changes hands.
//
// Not modelled (yet): Event Hubs also refuses a receiver without an epoch beside one with an epoch,
// and displaces receivers without one when one with an epoch attaches. aeg validate reads
// validation.consumerGroup ($Default) without an epoch while aeg sink reads --consumer-group
// ($Default) with one, so in Azure the two conflict; enforcing it here would fail validation beside
// a running sink until they default to different consumer groups (see the sandbox README).

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
    if (epoch !== undefined) {
      const top = Math.max(-Infinity, ...[...readers].map((r) => r.epoch ?? -Infinity));
      if (epoch < top) return { condition: "amqp:link:stolen", description: `A receiver with the higher epoch '${top}' reads ${what}; this receiver's epoch is '${epoch}'.` };
      for (const r of [...readers]) {
        if (r.epoch === undefined) continue;
        readers.delete(r);
        r.link.close({ condition: "amqp:link:stolen", description: `A new receiver with epoch '${epoch}' attached to ${what}, so this receiver with epoch '${r.epoch}' is disconnected.` });
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
