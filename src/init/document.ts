import { Document, isMap, isScalar, isSeq, type Scalar } from "yaml";
import type { Config } from "../config/schema.js";
import { FIELD_COMMENTS } from "./fields.js";

/**
 * The aeg.yaml init writes: the resolved configuration (so the schema's defaults are spelled out
 * and can be edited), every field with its comment, and a header. `notes` add to one field's
 * comment, e.g. the display name of an agent's audience group.
 */
export function configDocument(config: Config, opts: { header: string[]; notes?: Record<string, string> }): string {
  const doc = new Document(written(config));
  annotate(doc.contents, "", opts.notes ?? {});
  doc.commentBefore = opts.header.map((line) => ` ${line}`).join("\n");
  return doc.toString({ lineWidth: 0 });
}

/** What of a resolved configuration goes in the file: everything set, in the README's order. */
function written(config: Config): Record<string, unknown> {
  const { subscriptionId, tenantId, resourceGroup, location, auth, apim, gateway, agents, telemetry, dataverse, graphFallback } = config;
  const { connectionString: _secretSource, ...hub } = telemetry;
  return defined({
    subscriptionId,
    tenantId,
    resourceGroup,
    location,
    ...(auth.clientId ? { auth: { clientId: auth.clientId } } : {}),
    apim,
    gateway,
    agents,
    telemetry: hub,
    dataverse,
    graphFallback,
  }) as Record<string, unknown>;
}

/** Drops undefined members, which YAML would write as empty values. */
function defined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(defined);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, defined(v)]));
}

function annotate(node: unknown, prefix: string, notes: Record<string, string>): void {
  if (isSeq(node)) node.items.forEach((item, i) => annotate(item, `${prefix}[${i}]`, notes));
  if (!isMap(node)) return;
  for (const pair of node.items) {
    const key = pair.key as Scalar;
    const path = prefix ? `${prefix}.${String(key.value)}` : String(key.value);
    const comment = FIELD_COMMENTS[path.replace(/\[\d+\]/g, "[]")];
    if (!comment) throw new Error(`init writes ${path} without a comment: add one to FIELD_COMMENTS`);
    const text = ` ${comment}${notes[path] ? `: ${notes[path]}` : ""}`;
    // Beside a value on its own line; above a mapping or a list.
    if (isScalar(pair.value)) pair.value.comment = text;
    else key.commentBefore = text;
    annotate(pair.value, path, notes);
  }
}
