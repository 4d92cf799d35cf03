// Consumer groups of a hub, as both fronts see them: ARM creates and lists them, the AMQP server
// refuses a receiver on a group that does not exist. Every hub has `$Default`, made with the hub
// and never deleted; a Basic namespace has only that one.
import type { ChildRecord, ConsumerGroupRecord, EhNamespace } from "../store.js";

export const DEFAULT_GROUP = "$Default";

/** The hub's groups, `$Default` first (dated as the hub), or undefined when the hub does not exist. */
export function consumerGroupsOf(ns: EhNamespace, hub: string): ConsumerGroupRecord[] | undefined {
  const h: ChildRecord | undefined = ns.eventHubs[hub.toLowerCase()];
  if (!h) return undefined;
  const born = String(h.properties["createdAt"] ?? new Date(0).toISOString());
  const made = Object.values(ns.consumerGroups?.[hub.toLowerCase()] ?? {});
  return [{ name: DEFAULT_GROUP, createdAt: born, updatedAt: born }, ...made];
}

/** One group by name (case-insensitive, as Event Hubs names are). */
export function findConsumerGroup(ns: EhNamespace, hub: string, name: string): ConsumerGroupRecord | undefined {
  return consumerGroupsOf(ns, hub)?.find((g) => g.name.toLowerCase() === name.toLowerCase());
}
