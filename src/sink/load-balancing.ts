import { randomBytes } from "node:crypto";
import os from "node:os";
import type { LoadBalancingOptions } from "@azure/event-hubs";

/**
 * This process's name in the ownership blobs: the host (a container's replica name) and pid say
 * who reads what; the random part keeps a restarted replica (same host, pid 1) from passing for
 * its dead predecessor, whose claims must expire rather than be mistaken for its own.
 */
export function ownerId(): string {
  return `${os.hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** One sink on a local directory: nobody to share with, so take every partition on the first pass. */
export const SINGLE_INSTANCE: LoadBalancingOptions = { strategy: "greedy", updateIntervalInMs: 2000 };

/** Default ownership expiry of instances sharing a blob checkpoint store (ms). */
export const OWNERSHIP_EXPIRY_MS = 30_000;

/**
 * Instances sharing a blob checkpoint store. Each pass an instance lists the ownership blobs and
 * renews its own claims (one metadata write per partition it owns); a claim not renewed within the
 * expiry is free to take.
 *
 * - Expiry 30 s: the partitions of an instance that dies without stopping (kill -9, OOM, lost
 *   node) wait at most the expiry plus one pass, about 35 s, before another instance reads them; the
 *   hub keeps their events meanwhile, so they land late, never lost. A clean stop (SIGTERM, a
 *   scale-in) gives its claims up at once and the others take them on their next pass.
 * - Pass every 5 s (expiry / 6): a live owner may miss five renewals in a row (a storage hiccup
 *   being retried, a long GC pause, a throttled container) or run a few seconds of clock skew
 *   (claims age by the storage server's Last-Modified against the local clock) before others think
 *   it gone. The cost is small: about (partitions + instances) / 5 storage requests per second.
 * - Greedy: an instance takes every free partition up to its fair share in one pass. "balanced"
 *   takes one per pass, so a lone instance would need 32 passes (160 s) to own a 32-partition hub,
 *   and the survivors of a crash would regain its partitions one pass at a time. Stealing still
 *   happens only from instances above their share, so scaling churns the same few partitions.
 *
 * AEG_SINK_OWNERSHIP_EXPIRY_MS sets another expiry (the pass follows at a sixth of it): shorter
 * fails over faster and costs more storage requests; tests use it to see a takeover in seconds.
 */
export function sharedLoadBalancing(env: NodeJS.ProcessEnv = process.env): LoadBalancingOptions {
  const configured = Number(env["AEG_SINK_OWNERSHIP_EXPIRY_MS"]);
  const expiry = Number.isFinite(configured) && configured >= 1000 ? configured : OWNERSHIP_EXPIRY_MS;
  return { strategy: "greedy", partitionOwnershipExpirationIntervalInMs: expiry, updateIntervalInMs: Math.round(expiry / 6) };
}
