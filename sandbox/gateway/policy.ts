// The effective policy of an operation, built the way APIM builds it: named values substituted
// textually (by display name), fragments inlined, and each `<base/>` replaced by the enclosing
// scope's section (operation → API → global). Its expressions are numbered in document order so
// the whole document compiles as one unit, keyed by a hash of the effective text.
import { createHash } from "node:crypto";
import type { ApimService, ApiRecord, ChildRecord, PolicyRecord } from "../store.js";
import type { PElement, PNode } from "../arm/policyXml.js";
import type { ExpressionSource } from "./expressions/protocol.js";

export const SECTIONS = ["inbound", "backend", "outbound", "on-error"] as const;
export type Section = (typeof SECTIONS)[number];

/** A policy element ready to run. */
export interface XNode {
  name: string;
  attrs: Record<string, string>;
  /** Text content (text and CDATA joined, trimmed); undefined when there is none. */
  text?: string;
  children: XNode[];
  /** Scope that contributed it: global, api, operation (fragments count as their includer's). */
  scope: string;
  /** `choose[1]\when[2]\set-variable[1]`, as LastError.Path reports positions. */
  path: string;
  /** Expression ids by attribute name, or `#text` for the element text. */
  exprs: Record<string, string>;
}

export interface EffectivePolicy {
  sections: Record<Section, XNode[]>;
  expressions: ExpressionSource[];
  /** Hash of the effective document: the compile-unit key of this policy version. */
  key: string;
}

/** `@(code)` or `@{code}` (whole value) → an expression source; otherwise undefined. */
export function parseExpression(value: string, id: string): ExpressionSource | undefined {
  const v = value.trim();
  if (v.startsWith("@(") && v.endsWith(")")) return { id, kind: "expr", code: v.slice(2, -1) };
  if (v.startsWith("@{") && v.endsWith("}")) return { id, kind: "block", code: v.slice(2, -1) };
  return undefined;
}

/** Replaces `{{display name}}` with the named value's value; unknown names are left as they are. */
export function substituteNamedValues(text: string, svc: ApimService): string {
  if (!text.includes("{{")) return text;
  const byName = new Map<string, string>();
  for (const nv of Object.values(svc.namedValues)) {
    const v = nv.properties["value"];
    if (typeof v === "string") byName.set(String(nv.properties["displayName"]), v);
  }
  return text.replace(/\{\{([^{}]+?)\}\}/g, (m, n: string) => byName.get(n.trim()) ?? m);
}

const GLOBAL_DEFAULT: Record<Section, () => XNode[]> = {
  inbound: () => [],
  // Global scope forwards to the backend by default.
  backend: () => [{ name: "forward-request", attrs: {}, children: [], scope: "global", path: "", exprs: {} }],
  outbound: () => [],
  "on-error": () => [],
};

export class PolicyBuildError extends Error {}

export function buildEffective(svc: ApimService, api: ApiRecord, op: (ChildRecord & { policy?: PolicyRecord }) | undefined): EffectivePolicy {
  const global = Object.fromEntries(SECTIONS.map((s) => [s, GLOBAL_DEFAULT[s]()])) as Record<Section, XNode[]>;
  const apiLevel = expand(svc, api.policy, "api", global);
  const sections = expand(svc, op?.policy, "operation", apiLevel);
  for (const s of SECTIONS) assignPaths(sections[s], "");
  const key = createHash("sha256").update(JSON.stringify(SECTIONS.map((s) => sections[s].map(canonical)))).digest("hex");
  const expressions: ExpressionSource[] = [];
  const number = (n: XNode) => {
    for (const [k, v] of Object.entries(n.attrs)) addExpr(n, k, v, expressions);
    if (n.text !== undefined) addExpr(n, "#text", n.text, expressions);
    n.children.forEach(number);
  };
  for (const s of SECTIONS) sections[s].forEach(number);
  return { sections, expressions, key };
}

function addExpr(n: XNode, slot: string, value: string, out: ExpressionSource[]): void {
  if (n.exprs[slot]) return; // a node spliced twice (two <base/>) keeps its id
  const e = parseExpression(value, `e${out.length}`);
  if (!e) return;
  n.exprs[slot] = e.id;
  out.push(e);
}

function canonical(n: XNode): unknown {
  return [n.name, n.scope, Object.entries(n.attrs).sort(), n.text ?? null, n.children.map(canonical)];
}

function assignPaths(nodes: XNode[], prefix: string): void {
  const seen = new Map<string, number>();
  for (const n of nodes) {
    const i = (seen.get(n.name) ?? 0) + 1;
    seen.set(n.name, i);
    n.path = `${prefix}${n.name}[${i}]`;
    assignPaths(n.children, `${n.path}\\`);
  }
}

/** One scope's sections; a missing section inherits the parent's, as `<base/>` would. */
function expand(svc: ApimService, policy: PolicyRecord | undefined, scope: string, parent: Record<Section, XNode[]>): Record<Section, XNode[]> {
  const root = policy?.tree as PElement | undefined;
  const out = {} as Record<Section, XNode[]>;
  for (const s of SECTIONS) {
    const el = root?.children.find((c): c is PElement => c.t === "el" && c.name === s);
    out[s] = el ? convertChildren(svc, el.children, scope, parent[s], 0) : parent[s];
  }
  return out;
}

function convertChildren(svc: ApimService, nodes: PNode[], scope: string, base: XNode[] | undefined, depth: number): XNode[] {
  const out: XNode[] = [];
  for (const c of nodes) {
    if (c.t !== "el") continue;
    if (c.name === "base") {
      out.push(...(base ?? []));
    } else if (c.name === "include-fragment") {
      const id = substituteNamedValues(c.attrs.find(([k]) => k === "fragment-id")?.[1] ?? "", svc);
      const f = svc.fragments[id.toLowerCase()];
      if (!f) throw new PolicyBuildError(`Policy fragment with id '${id}' could not be found.`);
      if (depth > 0) throw new PolicyBuildError(`Policy fragment '${id}' includes another fragment; fragments cannot be nested.`);
      out.push(...convertChildren(svc, (f.policy.tree as PElement).children, scope, undefined, depth + 1));
    } else {
      out.push(convert(svc, c, scope, depth));
    }
  }
  return out;
}

function convert(svc: ApimService, el: PElement, scope: string, depth: number): XNode {
  const attrs: Record<string, string> = {};
  for (const [k, v] of el.attrs) attrs[k] = substituteNamedValues(v, svc);
  const texts = el.children.filter((c) => c.t === "text" || c.t === "cdata").map((c) => (c as { v: string }).v);
  const text = texts.length ? substituteNamedValues(texts.join(""), svc).trim() : undefined;
  return { name: el.name, attrs, text, children: convertChildren(svc, el.children, scope, undefined, depth), scope, path: "", exprs: {} };
}
