// APIM policy documents: parsing (`xml` and `rawxml`), save-time validation, and the
// re-serialization APIM applies on read (CRLF, re-indented, entity-escaped for `xml`), so a
// client that compares policies byte for byte sees drift just as it would against Azure.
import { DOMParser } from "@xmldom/xmldom";

export type PNode =
  | { t: "el"; name: string; attrs: [string, string][]; children: PNode[]; line: number; col: number }
  | { t: "text"; v: string }
  | { t: "cdata"; v: string }
  | { t: "comment"; v: string };
export type PElement = Extract<PNode, { t: "el" }>;

export type PolicyFormat = "xml" | "rawxml";

export class PolicyParseError extends Error {}

const isExpression = (v: string) => /^\s*@[({]/.test(v);

/**
 * Scans a C# policy expression starting at `start` (`@(` or `@{`) and returns the index just past
 * its closing bracket. String and char literals are skipped so brackets inside them don't count.
 */
function scanExpression(s: string, start: number): number {
  const open = s[start + 1];
  const close = open === "(" ? ")" : "}";
  let depth = 0;
  let i = start + 1;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"') {
      const verbatim = s[i - 1] === "@" || (s[i - 1] === "$" && s[i - 2] === "@") || (s[i - 1] === "@" && s[i - 2] === "$");
      i++;
      while (i < s.length) {
        if (verbatim && s[i] === '"' && s[i + 1] === '"') i += 2;
        else if (!verbatim && s[i] === "\\") i += 2;
        else if (s[i] === '"') break;
        else i++;
      }
    } else if (c === "'") {
      i++;
      while (i < s.length && s[i] !== "'") i += s[i] === "\\" ? 2 : 1;
    } else if (c === open) depth++;
    else if (c === close) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  throw new PolicyParseError(`Unterminated policy expression starting at offset ${start}.`);
}

const escAttr = (v: string) => v.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;").replace(/\r/g, "&#xD;").replace(/\n/g, "&#xA;").replace(/\t/g, "&#x9;");
const escText = (v: string) => v.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/**
 * `rawxml` is "a non XML encoded policy document": expressions may contain raw `<`, `&` and
 * quotes. Encode them so the document becomes well-formed XML; everything else is left alone.
 */
function encodeRawXml(s: string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    if (s.startsWith("<!--", i)) {
      const end = s.indexOf("-->", i);
      const stop = end < 0 ? s.length : end + 3;
      out += s.slice(i, stop);
      i = stop;
    } else if (s.startsWith("<![CDATA[", i)) {
      const end = s.indexOf("]]>", i);
      const stop = end < 0 ? s.length : end + 3;
      out += s.slice(i, stop);
      i = stop;
    } else if (s[i] === "<" && s[i + 1] !== "/" && s[i + 1] !== "?" && s[i + 1] !== "!") {
      // Start tag: copy the name, then attributes, encoding expression values.
      let j = i + 1;
      while (j < s.length && !/[\s/>]/.test(s[j]!)) j++;
      out += s.slice(i, j);
      while (j < s.length && s[j] !== ">") {
        const m = /^(\s*)([^\s=/>]+)(\s*=\s*)(["'])/.exec(s.slice(j));
        if (!m) {
          out += s[j];
          j++;
          continue;
        }
        const quote = m[4]!;
        const vStart = j + m[0].length;
        out += s.slice(j, vStart);
        if (s[vStart] === "@" && (s[vStart + 1] === "(" || s[vStart + 1] === "{")) {
          const vEnd = scanExpression(s, vStart);
          if (s[vEnd] !== quote) throw new PolicyParseError(`Unexpected text after the expression in attribute '${m[2]}'.`);
          out += escAttr(s.slice(vStart, vEnd)) + quote;
          j = vEnd + 1;
        } else {
          const vEnd = s.indexOf(quote, vStart);
          if (vEnd < 0) throw new PolicyParseError(`Unterminated value of attribute '${m[2]}'.`);
          out += s.slice(vStart, vEnd + 1);
          j = vEnd + 1;
        }
      }
      out += s[j] ?? "";
      i = j + 1;
      // Element text that is an expression.
      const ws = /^\s*/.exec(s.slice(i))![0];
      if (s[i + ws.length] === "@" && (s[i + ws.length + 1] === "(" || s[i + ws.length + 1] === "{") && !s.slice(0, i).endsWith("/>")) {
        const eStart = i + ws.length;
        const eEnd = scanExpression(s, eStart);
        out += ws + s.slice(eStart, eEnd).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
        i = eEnd;
      }
    } else {
      out += s[i];
      i++;
    }
  }
  return out;
}

interface DomNode {
  nodeType: number;
  nodeName: string;
  nodeValue: string | null;
  childNodes: ArrayLike<DomNode>;
  attributes?: ArrayLike<{ name: string; value: string }>;
  lineNumber?: number;
  columnNumber?: number;
}

function toTree(n: DomNode): PNode | undefined {
  switch (n.nodeType) {
    case 1: {
      const attrs: [string, string][] = [];
      for (let i = 0; i < (n.attributes?.length ?? 0); i++) attrs.push([n.attributes![i]!.name, n.attributes![i]!.value]);
      const children: PNode[] = [];
      for (let i = 0; i < n.childNodes.length; i++) {
        const c = toTree(n.childNodes[i]!);
        if (c) children.push(c);
      }
      return { t: "el", name: n.nodeName, attrs, children, line: n.lineNumber ?? 0, col: n.columnNumber ?? 0 };
    }
    case 3:
      return n.nodeValue && n.nodeValue.trim() ? { t: "text", v: n.nodeValue } : undefined;
    case 4:
      return { t: "cdata", v: n.nodeValue ?? "" };
    case 8:
      return { t: "comment", v: n.nodeValue ?? "" };
    default:
      return undefined;
  }
}

/** Parses a policy document; throws PolicyParseError with the parser's message when malformed. */
export function parsePolicy(value: string, format: PolicyFormat): PElement {
  const text = format === "rawxml" ? encodeRawXml(value) : value;
  const problems: string[] = [];
  let doc: { documentElement: DomNode | null } | undefined;
  try {
    doc = new DOMParser({ onError: (_level: string, msg: string) => void problems.push(msg) }).parseFromString(text, "text/xml") as unknown as {
      documentElement: DomNode | null;
    };
  } catch (e) {
    if (!problems.length) problems.push(String((e as Error).message));
  }
  if (problems.length || !doc?.documentElement) throw new PolicyParseError(problems[0] ?? "The policy document is empty.");
  return toTree(doc.documentElement) as PElement;
}

/** Re-serializes like APIM: CRLF between elements, 2-space (`xml`) or tab (`rawxml`) indent. */
export function serializePolicy(root: PElement, format: PolicyFormat): string {
  const indent = format === "xml" ? "  " : "\t";
  const attr = (v: string) => (format === "rawxml" && isExpression(v) ? v.replace(/\r/g, "&#xD;").replace(/\n/g, "&#xA;") : escAttr(v).replace(/>/g, format === "xml" ? "&gt;" : ">"));
  const text = (v: string) => (format === "rawxml" ? (isExpression(v) ? v : escText(v)) : escText(v).replace(/>/g, "&gt;"));
  const lines: string[] = [];
  const walk = (n: PNode, depth: number): void => {
    const pad = indent.repeat(depth);
    if (n.t === "text") lines.push(pad + text(n.v.trim()));
    else if (n.t === "cdata") lines.push(`${pad}<![CDATA[${n.v}]]>`);
    else if (n.t === "comment") lines.push(`${pad}<!--${n.v}-->`);
    else {
      const open = `<${n.name}${n.attrs.map(([k, v]) => ` ${k}="${attr(v)}"`).join("")}`;
      if (n.children.length === 0) lines.push(`${pad}${open} />`);
      else if (n.children.every((c) => c.t === "text" || c.t === "cdata")) {
        const inner = n.children.map((c) => (c.t === "text" ? text(c.v.trim()) : `<![CDATA[${c.v}]]>`)).join("");
        lines.push(`${pad}${open}>${inner}</${n.name}>`);
      } else {
        lines.push(`${pad}${open}>`);
        for (const c of n.children) walk(c, depth + 1);
        lines.push(`${pad}</${n.name}>`);
      }
    }
  };
  walk(root, 0);
  return lines.join("\r\n");
}

export interface PolicyIssue {
  element: string;
  line: number;
  col: number;
  message: string;
}

/** One policy expression to check at save time: the whole `@(…)`/`@{…}` value, named values substituted. */
export interface ExpressionToCheck {
  code: string;
  element: string;
  attribute?: string;
}

/**
 * A seam for checking C# policy expressions: all of a document's expressions in one call (so they
 * compile as one unit), answering an error message or undefined for each, in the same order.
 */
export type ExpressionChecker = (expressions: ExpressionToCheck[]) => Promise<(string | undefined)[]>;

export interface PolicyContext {
  kind: "policy" | "fragment";
  namedValueExists: (displayName: string) => boolean;
  fragmentExists: (id: string) => boolean;
  loggerExists: (id: string) => boolean;
  /** A named value's value by display name (for checking expressions as they will run). */
  namedValueValue?: (displayName: string) => string | undefined;
  checkExpression?: ExpressionChecker;
}

const SECTIONS = ["inbound", "backend", "outbound", "on-error"];

/** Every `{{name}}` a document references, and every fragment it includes. */
export function collectRefs(root: PElement): { namedValues: string[]; fragments: string[] } {
  const nv = new Set<string>();
  const fr = new Set<string>();
  forEachElement(root, (el) => {
    for (const v of valuesOf(el)) for (const m of v.matchAll(/\{\{([^{}]+?)\}\}/g)) nv.add(m[1]!.trim());
    if (el.name === "include-fragment") {
      const id = el.attrs.find(([k]) => k === "fragment-id")?.[1];
      if (id) fr.add(id);
    }
  });
  return { namedValues: [...nv], fragments: [...fr] };
}

function valuesOf(el: PElement): string[] {
  return [...el.attrs.map(([, v]) => v), ...el.children.flatMap((c) => (c.t === "text" || c.t === "cdata" ? [c.v] : []))];
}

function forEachElement(n: PElement, f: (el: PElement) => void): void {
  f(n);
  for (const c of n.children) if (c.t === "el") forEachElement(c, f);
}

/** Save-time validation, in document order like APIM reports it. */
export async function validatePolicy(root: PElement, ctx: PolicyContext): Promise<PolicyIssue[]> {
  const issues: PolicyIssue[] = [];
  const at = (el: PElement, message: string) => issues.push({ element: el.name, line: el.line, col: el.col, message });
  const expectedRoot = ctx.kind === "policy" ? "policies" : "fragment";
  if (root.name !== expectedRoot) {
    at(root, `The root element must be '${expectedRoot}'.`);
    return issues;
  }
  const seen = new Set<string>();
  for (const c of root.children) {
    if (c.t !== "el") continue;
    const isSection = SECTIONS.includes(c.name);
    if (ctx.kind === "policy" && !isSection) at(c, `Element '${c.name}' is not allowed here: a policy document contains only the sections ${SECTIONS.join(", ")}.`);
    if (ctx.kind === "policy" && isSection && seen.has(c.name)) at(c, `Section '${c.name}' is defined more than once.`);
    if (ctx.kind === "fragment" && isSection) at(c, `Section '${c.name}' is not allowed in a policy fragment.`);
    seen.add(c.name);
  }
  const toCheck: { el: PElement; expr: ExpressionToCheck }[] = [];
  // Expressions are checked as they will run: named values are substituted textually first.
  const effective = (v: string) => (ctx.namedValueValue ? v.replace(/\{\{([^{}]+?)\}\}/g, (m, n: string) => ctx.namedValueValue!(n.trim()) ?? m) : v);
  forEachElement(root, (el) => {
    for (const v of valuesOf(el)) {
      for (const m of v.matchAll(/\{\{([^{}]+?)\}\}/g)) {
        if (!ctx.namedValueExists(m[1]!.trim())) at(el, `Cannot find a property '${m[1]!.trim()}'`);
      }
    }
    if (el.name === "include-fragment") {
      const id = el.attrs.find(([k]) => k === "fragment-id")?.[1];
      if (!id) at(el, "Attribute 'fragment-id' is required.");
      else if (!ctx.fragmentExists(id)) at(el, `Policy fragment with id '${id}' could not be found.`);
    }
    if (el.name === "log-to-eventhub") {
      const id = el.attrs.find(([k]) => k === "logger-id")?.[1];
      if (!id) at(el, "Attribute 'logger-id' is required.");
      else if (!id.includes("{{") && !ctx.loggerExists(id)) at(el, "Logger not found");
    }
    for (const [k, v] of el.attrs) {
      const e = effective(v);
      if (isExpression(e)) toCheck.push({ el, expr: { code: e.trim(), element: el.name, attribute: k } });
    }
    for (const c of el.children) {
      if (c.t !== "text" && c.t !== "cdata") continue;
      const e = effective(c.v);
      if (isExpression(e)) toCheck.push({ el, expr: { code: e.trim(), element: el.name } });
    }
  });
  if (ctx.checkExpression && toCheck.length) {
    const results = await ctx.checkExpression(toCheck.map((x) => x.expr));
    results.forEach((msg, i) => void (msg && at(toCheck[i]!.el, msg)));
    // Keep APIM's document order when expression errors join the reference errors.
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
  }
  return issues;
}

/** Renames `{{old}}` to `{{new}}` everywhere (APIM follows named-value display-name changes). */
export function renameNamedValue(root: PElement, from: string, to: string): void {
  const re = new RegExp(`\\{\\{\\s*${from.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*\\}\\}`, "g");
  forEachElement(root, (el) => {
    el.attrs = el.attrs.map(([k, v]) => [k, v.replace(re, `{{${to}}}`)]);
    for (const c of el.children) if (c.t === "text" || c.t === "cdata") c.v = c.v.replace(re, `{{${to}}}`);
  });
}
