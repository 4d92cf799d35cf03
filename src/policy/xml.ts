// A small XML reader for APIM policy documents.
//
// Why not a stock parser: APIM itself is lenient inside policy expressions. Documents read back
// with `format=rawxml`, and the examples in Microsoft's docs, carry C# such as
// `condition="@(context.Variables.GetValueOrDefault<bool>("x"))"`: a raw `<` and nested double
// quotes inside a double-quoted attribute. A strict parser rejects that, so every drift check on
// such a policy would fail. This reader is strict XML everywhere except inside a `@(...)` / `@{...}`
// expression, which it scans with C# bracket, string, char and comment rules.
//
// Output is a plain tree: elements (attributes in written order) and text. Comments, processing
// instructions and the XML declaration are dropped; CDATA becomes text.

export interface XmlAttribute {
  name: string;
  value: string;
}

export interface XmlElement {
  kind: "element";
  name: string;
  attributes: XmlAttribute[];
  children: XmlNode[];
  line: number;
  column: number;
}

export interface XmlText {
  kind: "text";
  value: string;
}

export type XmlNode = XmlElement | XmlText;

/** Malformed policy XML. `line` and `column` are 1-based, in the caller's text. */
export class PolicyXmlError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(`${message} (line ${line}, column ${column})`);
    this.name = "PolicyXmlError";
    this.line = line;
    this.column = column;
  }
}

const NAME_START = /[A-Za-z_:]/;
const NAME_CHAR = /[-A-Za-z0-9._:]/;
const ENTITY = /^&(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z]+);/;
const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Line endings → LF, BOM dropped. Offsets keep their line/column meaning. */
function normaliseNewlines(text: string): string {
  return text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
}

/**
 * Parse a policy document or a sequence of top-level elements (an unwrapped fragment).
 * Returns the top-level elements; text outside elements is an error.
 */
export function parsePolicyXml(input: string): XmlElement[] {
  return new Reader(normaliseNewlines(input)).readDocument();
}

/** The entity at `src[i]`, decoded, with its length; undefined when there is none. */
function entityAt(src: string, i: number): { text: string; length: number } | undefined {
  const m = ENTITY.exec(src.slice(i, i + 12));
  if (!m) return undefined;
  const body = m[0].slice(1, -1);
  let text: string | undefined;
  if (body.startsWith("#x")) text = safeCodePoint(parseInt(body.slice(2), 16));
  else if (body.startsWith("#")) text = safeCodePoint(parseInt(body.slice(1), 10));
  else text = NAMED_ENTITIES[body];
  return text === undefined ? undefined : { text, length: m[0].length };
}

function safeCodePoint(n: number): string | undefined {
  return Number.isFinite(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : undefined;
}

/**
 * Scan a C# policy expression starting at `src[start] === "@"` (followed by `(` or `{`).
 * Entities are decoded on the fly, so `&quot;` opens a C# string like `"` does.
 * Returns the decoded expression and the offset just past it, or undefined when the brackets do
 * not balance before the end of input (the caller then falls back to strict XML rules).
 */
export function scanExpression(
  src: string,
  start: number,
  decodeEntities = true,
): { text: string; end: number } | undefined {
  if (src[start + 1] !== "(" && src[start + 1] !== "{") return undefined;
  let i = start + 1;
  let out = "@";
  const stack: string[] = [];
  const closer: Record<string, string> = { "(": ")", "{": "}", "[": "]" };
  type Mode = "code" | "string" | "verbatim" | "char" | "line-comment" | "block-comment";
  let mode: Mode = "code";

  const next = (): string | undefined => {
    if (i >= src.length) return undefined;
    if (decodeEntities && src[i] === "&") {
      const e = entityAt(src, i);
      if (e) {
        i += e.length;
        return e.text;
      }
    }
    return src[i++];
  };
  const peek = (): string | undefined => {
    if (i >= src.length) return undefined;
    if (decodeEntities && src[i] === "&") return entityAt(src, i)?.text ?? "&";
    return src[i];
  };

  for (;;) {
    const c = next();
    if (c === undefined) return undefined;
    out += c;
    switch (mode) {
      case "code":
        if (c === "(" || c === "{" || c === "[") stack.push(closer[c]!);
        else if (c === ")" || c === "}" || c === "]") {
          if (stack.pop() !== c) return undefined;
          if (stack.length === 0) return { text: out, end: i };
        } else if (c === '"') mode = out.endsWith('@"') || out.endsWith('$@"') || out.endsWith('@$"') ? "verbatim" : "string";
        else if (c === "'") mode = "char";
        else if (c === "/" && peek() === "/") mode = "line-comment";
        else if (c === "/" && peek() === "*") {
          out += next();
          mode = "block-comment";
        }
        break;
      case "string":
      case "char": {
        const quote = mode === "string" ? '"' : "'";
        if (c === "\\") {
          const escaped = next();
          if (escaped === undefined) return undefined;
          out += escaped;
        } else if (c === quote) mode = "code";
        else if (c === "\n") return undefined; // a regular C# literal cannot span lines
        break;
      }
      case "verbatim":
        if (c === '"') {
          if (peek() === '"') out += next();
          else mode = "code";
        }
        break;
      case "line-comment":
        if (c === "\n") mode = "code";
        break;
      case "block-comment":
        if (c === "*" && peek() === "/") {
          out += next();
          mode = "code";
        }
        break;
    }
  }
}

class Reader {
  private pos = 0;
  private readonly lineStarts: number[] = [0];

  constructor(private readonly src: string) {
    for (let i = 0; i < src.length; i++) if (src[i] === "\n") this.lineStarts.push(i + 1);
  }

  readDocument(): XmlElement[] {
    const roots: XmlElement[] = [];
    const stack: XmlElement[] = [];
    let text = "";
    let textStart = 0;

    const flush = (): void => {
      if (text === "") return;
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push({ kind: "text", value: text });
      else if (text.trim() !== "") this.fail("Text outside the root element", textStart);
      text = "";
    };

    while (this.pos < this.src.length) {
      const s = this.src;
      if (s.startsWith("<!--", this.pos)) {
        const end = s.indexOf("-->", this.pos + 4);
        if (end < 0) this.fail("Unterminated comment", this.pos);
        this.pos = end + 3;
      } else if (s.startsWith("<![CDATA[", this.pos)) {
        if (stack.length === 0) this.fail("CDATA outside the root element", this.pos);
        const end = s.indexOf("]]>", this.pos + 9);
        if (end < 0) this.fail("Unterminated CDATA section", this.pos);
        text += s.slice(this.pos + 9, end);
        this.pos = end + 3;
      } else if (s.startsWith("<?", this.pos)) {
        const end = s.indexOf("?>", this.pos + 2);
        if (end < 0) this.fail("Unterminated processing instruction", this.pos);
        this.pos = end + 2;
      } else if (s.startsWith("<!", this.pos)) {
        this.fail("DOCTYPE and other declarations are not allowed in a policy", this.pos);
      } else if (s.startsWith("</", this.pos)) {
        flush();
        const at = this.pos;
        this.pos += 2;
        const name = this.readName();
        this.skipSpace();
        this.expect(">");
        const open = stack.pop();
        if (!open) this.fail(`Closing tag </${name}> has no matching opening tag`, at);
        if (open.name !== name) this.fail(`Expected </${open.name}> but found </${name}>`, at);
      } else if (s[this.pos] === "<") {
        flush();
        const el = this.readStartTag();
        const parent = stack[stack.length - 1];
        if (parent) parent.children.push(el.element);
        else roots.push(el.element);
        if (!el.selfClosing) stack.push(el.element);
      } else {
        if (text === "") textStart = this.pos;
        text += this.readTextChunk(stack.length > 0);
      }
    }
    flush();
    const open = stack[stack.length - 1];
    if (open) this.fail(`Element <${open.name}> is not closed`, this.offsetOf(open));
    if (roots.length === 0) this.fail("No root element", this.src.length);
    return roots;
  }

  /** Text up to the next `<` (outside expressions), entities decoded. */
  private readTextChunk(inElement: boolean): string {
    const s = this.src;
    let out = "";
    while (this.pos < s.length && s[this.pos] !== "<") {
      const special = this.readEntityOrExpression(inElement);
      if (special !== undefined) {
        out += special;
        continue;
      }
      out += s[this.pos]!;
      this.pos++;
    }
    return out;
  }

  /**
   * An entity (`&amp;`), or with `expressions` an `@(…)`/`@{…}` policy expression, at the cursor:
   * its text (entities decoded, expressions verbatim), the cursor moved past it. Undefined if neither.
   */
  private readEntityOrExpression(expressions: boolean): string | undefined {
    const s = this.src;
    const c = s[this.pos];
    if (expressions && c === "@" && (s[this.pos + 1] === "(" || s[this.pos + 1] === "{")) {
      const expr = scanExpression(s, this.pos);
      if (expr) {
        this.pos = expr.end;
        return expr.text;
      }
    }
    if (c !== "&") return undefined;
    const e = entityAt(s, this.pos);
    if (!e) this.fail("'&' must start an entity such as &amp;", this.pos);
    this.pos += e.length;
    return e.text;
  }

  private readStartTag(): { element: XmlElement; selfClosing: boolean } {
    const at = this.pos;
    this.pos++;
    const { line, column } = this.where(at);
    const name = this.readName();
    const element: XmlElement = { kind: "element", name, attributes: [], children: [], line, column };
    for (;;) {
      const hadSpace = this.skipSpace();
      const c = this.src[this.pos];
      if (c === undefined) this.fail(`Unterminated start tag <${name}>`, at);
      if (c === ">") {
        this.pos++;
        return { element, selfClosing: false };
      }
      if (c === "/") {
        this.pos++;
        this.expect(">");
        return { element, selfClosing: true };
      }
      if (!hadSpace) this.fail("Expected whitespace before an attribute", this.pos);
      const attrAt = this.pos;
      const attrName = this.readName();
      if (element.attributes.some((a) => a.name === attrName)) {
        this.fail(`Duplicate attribute '${attrName}'`, attrAt);
      }
      this.skipSpace();
      this.expect("=");
      this.skipSpace();
      element.attributes.push({ name: attrName, value: this.readAttributeValue() });
    }
  }

  private readAttributeValue(): string {
    const s = this.src;
    const quote = s[this.pos];
    if (quote !== '"' && quote !== "'") this.fail("Attribute value must be quoted", this.pos);
    const start = this.pos;
    this.pos++;
    let out = "";
    for (;;) {
      const c = s[this.pos];
      if (c === undefined) this.fail("Unterminated attribute value", start);
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c === "<") this.fail("'<' is not allowed in an attribute value outside an expression", this.pos);
      const special = this.readEntityOrExpression(true);
      if (special !== undefined) {
        out += special;
        continue;
      }
      // Literal newlines are kept (no XML attribute-value normalisation): APIM keeps them and
      // writes them back as &#xA;, so the two forms must read the same.
      out += c;
      this.pos++;
    }
  }

  private readName(): string {
    const start = this.pos;
    if (!NAME_START.test(this.src[this.pos] ?? "")) this.fail("Expected a name", this.pos);
    this.pos++;
    while (NAME_CHAR.test(this.src[this.pos] ?? "")) this.pos++;
    return this.src.slice(start, this.pos);
  }

  private skipSpace(): boolean {
    const start = this.pos;
    while (/[ \t\n]/.test(this.src[this.pos] ?? "")) this.pos++;
    return this.pos > start;
  }

  private expect(ch: string): void {
    if (this.src[this.pos] !== ch) this.fail(`Expected '${ch}'`, this.pos);
    this.pos++;
  }

  private offsetOf(el: XmlElement): number {
    return (this.lineStarts[el.line - 1] ?? 0) + el.column - 1;
  }

  private where(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }

  private fail(message: string, offset: number): never {
    const { line, column } = this.where(offset);
    throw new PolicyXmlError(message, line, column);
  }
}
