import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Checkpoint, CheckpointStore, PartitionOwnership } from "@azure/event-hubs";
import writeFileAtomic from "write-file-atomic";

/**
 * The event-hubs client's CheckpointStore on a local directory, for hosts without blob storage.
 * Checkpoints are one small JSON file per partition, written atomically (temp file, fsync,
 * rename), so a crash leaves the previous checkpoint or the new one, never half of either.
 *
 * Ownership is kept in memory only: one sink runs per directory (the caller holds a lock), so there
 * is no other instance to coordinate with, and a persisted claim left by a killed sink would only
 * make its successor wait for the claim to expire before reading.
 */
export class FileCheckpointStore implements CheckpointStore {
  private readonly owners = new Map<string, PartitionOwnership>();

  constructor(private readonly dir: string) {}

  async listOwnership(fullyQualifiedNamespace: string, eventHubName: string, consumerGroup: string): Promise<PartitionOwnership[]> {
    const prefix = scopeKey(fullyQualifiedNamespace, eventHubName, consumerGroup);
    return [...this.owners.entries()].filter(([k]) => k.startsWith(`${prefix}/`)).map(([, o]) => ({ ...o }));
  }

  /** Claims succeed only against the etag the claimer last saw (optimistic concurrency, as in blob storage). */
  async claimOwnership(requested: PartitionOwnership[]): Promise<PartitionOwnership[]> {
    const claimed: PartitionOwnership[] = [];
    for (const o of requested) {
      const key = `${scopeKey(o.fullyQualifiedNamespace, o.eventHubName, o.consumerGroup)}/${o.partitionId}`;
      const current = this.owners.get(key);
      if (current && current.etag !== o.etag) continue;
      const next = { ...o, etag: randomUUID(), lastModifiedTimeInMs: Date.now() };
      this.owners.set(key, next);
      claimed.push({ ...next });
    }
    return claimed;
  }

  async updateCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const dir = this.scopeDir(checkpoint.fullyQualifiedNamespace, checkpoint.eventHubName, checkpoint.consumerGroup);
    await mkdir(dir, { recursive: true });
    const body: Checkpoint = {
      fullyQualifiedNamespace: checkpoint.fullyQualifiedNamespace,
      eventHubName: checkpoint.eventHubName,
      consumerGroup: checkpoint.consumerGroup,
      partitionId: checkpoint.partitionId,
      sequenceNumber: checkpoint.sequenceNumber,
      offset: String(checkpoint.offset),
    };
    await writeFileAtomic(path.join(dir, `${safe(checkpoint.partitionId)}.json`), `${JSON.stringify(body)}\n`, { fsync: true });
  }

  async listCheckpoints(fullyQualifiedNamespace: string, eventHubName: string, consumerGroup: string): Promise<Checkpoint[]> {
    const dir = this.scopeDir(fullyQualifiedNamespace, eventHubName, consumerGroup);
    let files: string[];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith(".json"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: Checkpoint[] = [];
    for (const f of files) out.push(parseCheckpoint(await readFile(path.join(dir, f), "utf8"), path.join(dir, f)));
    return out;
  }

  private scopeDir(ns: string, hub: string, group: string): string {
    return path.join(this.dir, "checkpoints", safe(ns.toLowerCase()), safe(hub.toLowerCase()), safe(group.toLowerCase()));
  }
}

function scopeKey(ns: string, hub: string, group: string): string {
  return [ns, hub, group].map((s) => s.toLowerCase()).join("/");
}

/** A name usable as one path segment on every OS ($Default, host names). */
function safe(segment: string): string {
  return segment.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** A checkpoint file, checked: a damaged one stops the sink rather than silently rewinding or skipping. */
export function parseCheckpoint(text: string, file: string): Checkpoint {
  let c: Partial<Checkpoint>;
  try {
    c = JSON.parse(text) as Partial<Checkpoint>;
  } catch {
    throw new Error(`checkpoint ${file} is not valid JSON; delete it to re-read that partition from the oldest retained event (upserts make the replay harmless)`);
  }
  if (typeof c.partitionId !== "string" || typeof c.sequenceNumber !== "number" || (typeof c.offset !== "string" && typeof c.offset !== "number")) {
    throw new Error(`checkpoint ${file} lacks partitionId, sequenceNumber or offset; delete it to re-read that partition`);
  }
  return { fullyQualifiedNamespace: String(c.fullyQualifiedNamespace), eventHubName: String(c.eventHubName), consumerGroup: String(c.consumerGroup), partitionId: c.partitionId, sequenceNumber: c.sequenceNumber, offset: String(c.offset) };
}
