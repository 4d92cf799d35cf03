/**
 * How aeg marks what it makes, so that teardown can tell its own from someone else's: ARM
 * resources it creates carry the tag `managed-by: aeg`, named values the tag `aeg`.
 */
export const AEG_RESOURCE_TAGS: Readonly<Record<string, string>> = { "managed-by": "aeg" };
export const AEG_NAMED_VALUE_TAG = "aeg";

export function taggedByAeg(tags: Record<string, string> | undefined): boolean {
  return tags?.["managed-by"]?.toLowerCase() === "aeg";
}
