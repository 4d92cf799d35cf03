// Header bags with HTTP's case-insensitive names, and set-header's exists-action semantics.
export type HeaderBag = Record<string, string[]>;

function findName(h: HeaderBag, name: string): string | undefined {
  const l = name.toLowerCase();
  return Object.keys(h).find((k) => k.toLowerCase() === l);
}

export function getHeader(h: HeaderBag, name: string): string[] | undefined {
  const k = findName(h, name);
  return k === undefined ? undefined : h[k];
}

function deleteHeader(h: HeaderBag, name: string): void {
  const k = findName(h, name);
  if (k !== undefined) delete h[k];
}

function setHeader(h: HeaderBag, name: string, values: string[]): void {
  deleteHeader(h, name);
  h[name] = values;
}

export type ExistsAction = "override" | "skip" | "append" | "delete";

/** Applies one set-header to a bag, as APIM does for each exists-action. */
export function applyHeader(h: HeaderBag, name: string, action: ExistsAction, values: string[]): void {
  const existing = getHeader(h, name);
  switch (action) {
    case "delete":
      deleteHeader(h, name);
      return;
    case "skip":
      if (existing === undefined) setHeader(h, name, values);
      return;
    case "append":
      setHeader(h, findName(h, name) ?? name, [...(existing ?? []), ...values]);
      return;
    default:
      setHeader(h, name, values);
  }
}

/** Node's incoming headers as a bag (array values kept). */
export function fromIncoming(headers: Record<string, string | string[] | undefined>): HeaderBag {
  const out: HeaderBag = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v : [v];
  return out;
}

/** Headers that must not travel from a buffered message to the next hop. */
const HOP = new Set(["connection", "content-length", "transfer-encoding", "keep-alive", "host"]);
// APIM joins repeated values with commas, except for these, which keep one line per value.
const MULTI_LINE = new Set(["set-cookie", "www-authenticate", "proxy-authenticate", "warning", "user-agent", "cookie"]);

/** A bag as outgoing response headers for Node (hop-by-hop headers dropped). */
export function toOutgoing(h: HeaderBag): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (HOP.has(k.toLowerCase())) continue;
    out[k] = MULTI_LINE.has(k.toLowerCase()) ? v : v.join(",");
  }
  return out;
}

export function withoutHop(h: HeaderBag): HeaderBag {
  const out: HeaderBag = {};
  for (const [k, v] of Object.entries(h)) if (!HOP.has(k.toLowerCase())) out[k] = [...v];
  return out;
}
