// Event Hubs' AMQP message shapes: the batch envelope producers send (message format 0x80013700,
// one data section per encoded event), the annotated messages receivers get, and the
// selector filter that says where a receiver starts.
import rhea from "rhea";
import type { EventPropertyValue, StoredEvent } from "./store.js";

/** Message format of an Event Hubs batch: the body's data sections are encoded messages. */
const BATCH_FORMAT = 0x80013700;

const { message, types } = rhea;

/** One event as received from a producer, ready for the event store. */
export interface IncomingEvent {
  body: string;
  bodyEncoding?: "base64";
  partitionKey?: string;
  properties: Record<string, EventPropertyValue>;
}

interface DecodedMessage {
  body?: unknown;
  message_annotations?: Record<string, unknown>;
  application_properties?: Record<string, unknown>;
}
const decode = (b: Buffer) => message.decode(b) as unknown as DecodedMessage;

interface Section {
  typecode: number;
  content: unknown;
  multiple?: boolean;
}

const isSection = (b: unknown): b is Section => typeof b === "object" && b !== null && typeof (b as Section).typecode === "number" && "content" in b;

/** The events of a transfer: a batch (format 0x80013700) or a single plain message. */
export function decodeTransfer(raw: unknown, format: number | undefined): IncomingEvent[] {
  if (format === BATCH_FORMAT && Buffer.isBuffer(raw)) {
    const envelope = decode(raw);
    const sections = isSection(envelope.body) && envelope.body.typecode === 0x75 ? envelope.body : undefined;
    const parts = sections ? (sections.multiple ? (sections.content as Buffer[]) : [sections.content as Buffer]) : [];
    return parts.map((p) => toIncoming(decode(Buffer.from(p)), envelope.message_annotations));
  }
  const msg = Buffer.isBuffer(raw) ? decode(raw) : (raw as DecodedMessage);
  return [toIncoming(msg)];
}

function toIncoming(msg: DecodedMessage, envelopeAnnotations?: Record<string, unknown>): IncomingEvent {
  const out: IncomingEvent = { body: "", properties: {} };
  const bytes = bodyBytes(msg.body);
  // Keep text as text (the admin API and the gateway's events show it); other bytes as base64.
  const text = bytes.toString("utf8");
  if (Buffer.from(text, "utf8").equals(bytes)) out.body = text;
  else {
    out.body = bytes.toString("base64");
    out.bodyEncoding = "base64";
  }
  const key = msg.message_annotations?.["x-opt-partition-key"] ?? envelopeAnnotations?.["x-opt-partition-key"];
  if (typeof key === "string") out.partitionKey = key;
  for (const [k, v] of Object.entries(msg.application_properties ?? {})) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out.properties[k] = v;
    else if (v instanceof Date) out.properties[k] = v.getTime();
    else if (v !== null && v !== undefined) out.properties[k] = String(v);
  }
  return out;
}

/** Body bytes: data sections as sent; an amqp-value or sequence body as its JSON text (lossy, documented). */
function bodyBytes(body: unknown): Buffer {
  if (isSection(body)) {
    if (body.typecode === 0x75) {
      const parts = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
      return Buffer.concat(parts.filter(Boolean).map((p) => Buffer.from(p)));
    }
    return Buffer.from(JSON.stringify(body.content ?? null), "utf8");
  }
  if (Buffer.isBuffer(body)) return body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(typeof body === "string" ? body : JSON.stringify(body), "utf8");
}

/** A stored event as the annotated AMQP message a receiver gets. */
export function toAmqpMessage(e: StoredEvent): Record<string, unknown> {
  const annotations: Record<string, unknown> = {
    "x-opt-sequence-number": types.wrap_long(e.sequenceNumber),
    "x-opt-offset": e.offset,
    "x-opt-enqueued-time": new Date(e.enqueuedTimeUtc),
  };
  if (e.partitionKey !== undefined) annotations["x-opt-partition-key"] = e.partitionKey;
  const out: Record<string, unknown> = {
    body: message.data_section(Buffer.from(e.body, e.bodyEncoding === "base64" ? "base64" : "utf8")),
    message_annotations: annotations,
  };
  if (Object.keys(e.properties).length) out["application_properties"] = e.properties;
  return out;
}

/** Where a receiver starts: after (or at) a position, or only new events. */
export type StartPosition =
  | { kind: "latest" }
  | { kind: "offset" | "sequence" | "time"; value: number; inclusive: boolean };

/** Parses the `apache.org:selector-filter:string` expression the client sends; undefined = unsupported. */
export function parseSelector(expr: string | undefined): StartPosition | undefined {
  if (expr === undefined) return { kind: "latest" }; // no filter: Event Hubs starts at the end
  const m = /^\s*amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'\s*$/i.exec(expr);
  if (!m) return undefined;
  const [, field, op, raw] = m;
  if (field!.toLowerCase() === "offset" && raw === "@latest") return { kind: "latest" };
  const value = Number(raw);
  if (!Number.isFinite(value)) return undefined;
  const kind = field!.toLowerCase() === "offset" ? "offset" : field!.toLowerCase() === "sequence-number" ? "sequence" : "time";
  return { kind, value, inclusive: op === ">=" };
}

/** Whether an event lies at or after the start position (for events already stored). */
export function isAfter(e: StoredEvent, p: StartPosition): boolean {
  if (p.kind === "latest") return false;
  const v = p.kind === "offset" ? Number(e.offset) : p.kind === "sequence" ? e.sequenceNumber : Date.parse(e.enqueuedTimeUtc);
  return p.inclusive ? v >= p.value : v > p.value;
}

/** The filter expression from a source's filter map (rhea may leave it described or unwrap it). */
export function selectorOf(filter: unknown): string | undefined {
  if (!filter || typeof filter !== "object") return undefined;
  const entry = Object.entries(filter).find(([k]) => k.toLowerCase().includes("selector-filter"))?.[1] as unknown;
  if (typeof entry === "string") return entry;
  if (entry && typeof entry === "object" && "value" in entry) {
    const v = (entry as { value: unknown }).value;
    return typeof v === "string" ? v : v && typeof v === "object" && "value" in v ? String((v as { value: unknown }).value) : undefined;
  }
  return undefined;
}
