import { randomUUID } from "node:crypto";
import { retryAfterMs } from "../azure/service-pipeline.js";

/** One upsert inside a `$batch`: PATCH on the alternate key creates the row or updates it. */
export interface Upsert {
  entitySet: string;
  keyAttribute: string;
  keyValue: string;
  body: Record<string, unknown>;
}

export interface PartResult {
  status: number;
  retryAfterMs?: number;
  /** The Dataverse error message of a failed part. */
  message?: string;
}

/** OData string literal in a key segment: quotes doubled, then URL-encoded (the value is untrusted text). */
export function keySegment(attribute: string, value: string): string {
  return `${attribute}=${encodeURIComponent(`'${value.replace(/'/g, "''")}'`)}`;
}

/**
 * A `$batch` body of independent upserts (no change set: one bad row must not roll back the
 * others, and with `Prefer: odata.continue-on-error` every part gets its own answer). Pure.
 */
export function upsertBatch(apiBase: string, upserts: Upsert[], boundary = `batch_${randomUUID()}`): { boundary: string; body: string } {
  const parts = upserts.map((u) =>
    [
      `--${boundary}`,
      "Content-Type: application/http",
      "Content-Transfer-Encoding: binary",
      "",
      `PATCH ${apiBase}/${u.entitySet}(${keySegment(u.keyAttribute, u.keyValue)}) HTTP/1.1`,
      "Content-Type: application/json; type=entry",
      "",
      JSON.stringify(u.body),
    ].join("\r\n"),
  );
  return { boundary, body: `${parts.join("\r\n")}\r\n--${boundary}--\r\n` };
}

/** The status (and Retry-After, error message) of each part of a `$batch` answer, in order. Pure. */
export function batchResults(contentType: string | undefined, text: string): PartResult[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "")?.slice(1).find((x) => x !== undefined);
  if (!boundary) throw new Error(`the $batch answer is not multipart (Content-Type: ${contentType ?? "none"})`);
  const results: PartResult[] = [];
  for (const chunk of text.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith("--")) break;
    const statusLine = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r?\n([\s\S]*)$/m.exec(chunk);
    if (!statusLine) continue;
    // Header lines up to the first blank line, then the body.
    const lines = statusLine[2]!.split(/\r?\n/);
    const blank = lines.findIndex((l) => l.trim() === "");
    const headerLines = blank < 0 ? lines : lines.slice(0, blank);
    const body = blank < 0 ? "" : lines.slice(blank + 1).join("\n");
    const headers = new Map(headerLines.flatMap((l) => (l.includes(":") ? [[l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as const] : [])));
    const status = Number(statusLine[1]);
    const result: PartResult = { status };
    const wait = retryAfterMs(headers.get("retry-after"));
    if (wait !== undefined) result.retryAfterMs = wait;
    if (status >= 400) {
      try {
        result.message = (JSON.parse(body.trim()) as { error?: { message?: string } }).error?.message;
      } catch {
        result.message = body.trim().slice(0, 200) || undefined;
      }
    }
    results.push(result);
  }
  return results;
}
