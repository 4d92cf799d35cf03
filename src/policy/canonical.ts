// Canonical text form of APIM policy XML, so that the service's rewriting of stored policies
// (CRLF, re-indentation, quote style, entity forms, &#xA; in attributes, self-closing tags, a
// leading comment block) never shows up as drift, while any real change still does.
//
// Choices:
// - Attribute order is kept as written. Nothing in the reference material shows APIM reordering
//   attributes, and keeping the order keeps the diff readable; an order change therefore shows.
// - Element order is significant (policies execute in order), so it is kept.
// - Text and multi-line attribute values are compared line by line with each line trimmed and
//   blank lines dropped; whitespace inside a line (and so every C# token) is kept.
// - Single-line attribute values are kept exactly: a trailing space in a header value is real.
// - Comments are dropped: APIM may add or keep them, and they never change behaviour.
//
// The output is for comparing and showing, not for uploading. It re-reads to itself
// (canonicalizePolicy is idempotent). A value that is one whole C# expression is written raw,
// without entity escaping, so `=>` and `<string>` read as C#; this module's reader accepts that.

import { parsePolicyXml, PolicyXmlError, scanExpression, type XmlElement, type XmlNode } from "./xml.js";
import { lineDiff } from "./line-diff.js";

export { PolicyXmlError } from "./xml.js";

const INDENT = "  ";

/** Canonical form of a policy document (one root element). Throws PolicyXmlError when malformed. */
export function canonicalizePolicy(xml: string): string {
  const roots = parsePolicyXml(xml);
  if (roots.length !== 1) {
    const extra = roots[1]!;
    throw new PolicyXmlError("A policy document must have exactly one root element", extra.line, extra.column);
  }
  return render(roots);
}

/**
 * Canonical form of a policy fragment. APIM sometimes returns a fragment's content without its
 * `<fragment>` root, so wrapped and unwrapped content give the same result (always wrapped).
 */
export function canonicalizeFragment(xml: string): string {
  const roots = parsePolicyXml(xml);
  const only = roots.length === 1 ? roots[0]! : undefined;
  const wrapped: XmlElement =
    only && only.name === "fragment"
      ? only
      : { kind: "element", name: "fragment", attributes: [], children: roots, line: 1, column: 1 };
  return render([wrapped]);
}

/** True when the document's root is `<fragment>`; such documents are compared as fragments. */
function isFragmentXml(xml: string): boolean {
  return /^(?:\s|<\?[\s\S]*?\?>|<!--[\s\S]*?-->)*<fragment[\s/>]/.test(xml.replace(/^\uFEFF/, ""));
}

/**
 * A short line diff of the canonical forms: `- ` lines only in `from`, `+ ` lines only in `to`,
 * `  ` context, `@@ …` hunk headers. Empty when the two are equivalent. Plans pass the live policy
 * as `from` and the template as `to`. When either side is a fragment, both are read as fragments
 * (APIM sometimes returns a fragment without its wrapper).
 */
export function policyDiff(
  from: string,
  to: string,
  options: { context?: number; maxLines?: number } = {},
): string[] {
  const canon = isFragmentXml(from) || isFragmentXml(to) ? canonicalizeFragment : canonicalizePolicy;
  const a = canon(from);
  const b = canon(to);
  if (a === b) return [];
  return lineDiff(a.split("\n"), b.split("\n"), options);
}

function render(roots: XmlElement[]): string {
  const out: string[] = [];
  for (const root of roots) renderElement(root, 0, out);
  return out.join("\n");
}

function renderElement(el: XmlElement, depth: number, out: string[]): void {
  const pad = INDENT.repeat(depth);
  const open = `<${el.name}${el.attributes.map((a) => ` ${a.name}="${attributeText(a.value)}"`).join("")}`;
  const content = mergeText(el.children).filter((c) => c.kind === "element" || c.value.trim() !== "");

  if (content.length === 0) {
    out.push(`${pad}${open}/>`);
    return;
  }
  const single = content.length === 1 && content[0]!.kind === "text" ? textLines(content[0]!.value) : undefined;
  if (single && single.length === 1) {
    out.push(`${pad}${open}>${escapeText(single[0]!)}</${el.name}>`);
    return;
  }
  out.push(`${pad}${open}>`);
  for (const child of content) {
    if (child.kind === "element") renderElement(child, depth + 1, out);
    else for (const line of textLines(child.value)) out.push(`${pad}${INDENT}${escapeText(line)}`);
  }
  out.push(`${pad}</${el.name}>`);
}

/** Adjacent text nodes (split by a dropped comment or a CDATA section) become one. */
function mergeText(nodes: XmlNode[]): XmlNode[] {
  const merged: XmlNode[] = [];
  for (const n of nodes) {
    const last = merged[merged.length - 1];
    if (n.kind === "text" && last?.kind === "text") merged[merged.length - 1] = { kind: "text", value: last.value + n.value };
    else merged.push(n);
  }
  return merged;
}

/** Each line trimmed, blank lines dropped. */
function textLines(value: string): string[] {
  return value
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/**
 * Attribute values compare with whitespace runs collapsed to one space: XML attribute-value
 * normalization turns each newline and tab into a space, and readers differ on whether they keep
 * line breaks (`&#xA;`) or not, so a multi-line `@{ … }` block may come back on one line. The cost:
 * a change only in the spacing inside an attribute (e.g. two spaces in a string literal) is not seen.
 */
function attributeText(value: string): string {
  return escapeAttribute(value.replace(/\s+/g, " ").trim());
}

function escapeAttribute(value: string): string {
  if (isRawSafe(value)) return value;
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
}

function escapeText(line: string): string {
  if (isRawSafe(line)) return line;
  return line.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}

/**
 * A value can be written without escaping when it is exactly one balanced C# expression and holds
 * nothing that would read back as an entity: then the reader returns the same text.
 */
function isRawSafe(value: string): boolean {
  if (!/^@[({]/.test(value) || /&(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z]+);/.test(value)) return false;
  const scanned = scanExpression(value, 0, false);
  return scanned !== undefined && scanned.end === value.length;
}
