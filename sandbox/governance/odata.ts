// The OData query subset the gateway's reads use: `$filter` with comparisons joined by and/or
// (parentheses allowed), literals as Dataverse takes them (strings quoted with '' for a quote,
// GUIDs and numbers bare, null/true/false), `$select` and `$top`. Anything else is a 400, so a
// policy that builds a filter wrongly fails here instead of matching by accident.

export type ColumnType = "String" | "Int32" | "Guid" | "DateTimeOffset" | "Boolean";

export type Literal =
  | { type: "String"; value: string }
  | { type: "Int32"; value: number }
  | { type: "Guid"; value: string }
  | { type: "DateTimeOffset"; value: string }
  | { type: "Boolean"; value: boolean }
  | { type: "Null" };

export type CompareOp = "eq" | "ne" | "gt" | "ge" | "lt" | "le";

export type FilterNode =
  | { kind: "cmp"; prop: string; op: CompareOp; literal: Literal }
  | { kind: "and" | "or"; left: FilterNode; right: FilterNode };

/** A query error: which Dataverse code and message to answer with (always HTTP 400). */
export class ODataError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Generic URI / query parse error. */
export const PARSE_ERROR = "0x80060888";
/** Unknown property (Dataverse answers this one with a zero code). */
export const NO_PROPERTY = "0x0";

const OPS: CompareOp[] = ["eq", "ne", "gt", "ge", "lt", "le"];
const OP_KIND: Record<CompareOp, string> = { eq: "Equal", ne: "NotEqual", gt: "GreaterThan", ge: "GreaterThanOrEqual", lt: "LessThan", le: "LessThanOrEqual" };
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Token {
  text: string;
  pos: number;
  /** Set for quoted string literals (the unescaped value). */
  str?: string;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t") {
      i++;
    } else if (c === "(" || c === ")") {
      out.push({ text: c, pos: i });
      i++;
    } else if (c === "'") {
      // A quote inside a literal is written twice; a lone quote ends it.
      let value = "";
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw syntax(`Unterminated string literal at position ${i}`, src);
        if (src[j] === "'") {
          if (src[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += src[j];
        j++;
      }
      out.push({ text: src.slice(i, j + 1), pos: i, str: value });
      i = j + 1;
    } else {
      const m = /^[A-Za-z0-9_.:+-]+/.exec(src.slice(i));
      if (!m) throw syntax(`Syntax error: character '${c}' is not valid at position ${i}`, src);
      out.push({ text: m[0], pos: i });
      i += m[0].length;
    }
  }
  return out;
}

function syntax(what: string, src: string): ODataError {
  return new ODataError(PARSE_ERROR, `${what} in '${src}'.`);
}

function literalOf(t: Token, src: string): Literal {
  if (t.str !== undefined) return { type: "String", value: t.str };
  const x = t.text;
  if (GUID.test(x)) return { type: "Guid", value: x.toLowerCase() };
  if (DATETIME.test(x) && !Number.isNaN(Date.parse(x))) return { type: "DateTimeOffset", value: x };
  if (/^-?\d+$/.test(x)) {
    const n = Number(x);
    if (n > 2147483647 || n < -2147483648) throw syntax(`Integer literal out of range at position ${t.pos}`, src);
    return { type: "Int32", value: n };
  }
  if (x === "null") return { type: "Null" };
  if (x === "true" || x === "false") return { type: "Boolean", value: x === "true" };
  throw syntax(`Syntax error at position ${t.pos}: '${x}' is not a literal`, src);
}

/** Parses a `$filter` expression. Throws ODataError on any syntax error. */
export function parseFilter(src: string): FilterNode {
  const toks = tokenize(src);
  let k = 0;
  const peek = () => toks[k];
  const atEnd = (t: Token | undefined): t is undefined => t === undefined;

  const primary = (): FilterNode => {
    const t = peek();
    if (atEnd(t)) throw syntax(`Expression expected at position ${src.length}`, src);
    if (t.text === "(") {
      k++;
      const inner = orExpr();
      const close = peek();
      if (atEnd(close) || close.text !== ")") throw syntax(`')' or operator expected at position ${close?.pos ?? src.length}`, src);
      k++;
      return inner;
    }
    if (t.str !== undefined || !IDENT.test(t.text) || ["and", "or", "not", ...OPS].includes(t.text)) {
      throw syntax(`Syntax error at position ${t.pos}: a property name was expected`, src);
    }
    k++;
    const op = peek();
    if (atEnd(op) || !OPS.includes(op.text as CompareOp)) throw syntax(`Syntax error at position ${op?.pos ?? src.length}: a comparison operator was expected`, src);
    k++;
    const lit = peek();
    if (atEnd(lit)) throw syntax(`Expression expected at position ${src.length}`, src);
    k++;
    return { kind: "cmp", prop: t.text, op: op.text as CompareOp, literal: literalOf(lit, src) };
  };
  const andExpr = (): FilterNode => {
    let left = primary();
    while (peek()?.text === "and") {
      k++;
      left = { kind: "and", left, right: primary() };
    }
    return left;
  };
  const orExpr = (): FilterNode => {
    let left = andExpr();
    while (peek()?.text === "or") {
      k++;
      left = { kind: "or", left, right: andExpr() };
    }
    return left;
  };

  if (toks.length === 0) throw syntax("Expression expected at position 0", src);
  const tree = orExpr();
  const rest = peek();
  if (!atEnd(rest)) throw syntax(`Syntax error at position ${rest.pos}: 'and', 'or' or the end was expected`, src);
  return tree;
}

/** Checks property names and literal types against the entity's columns. */
export function checkFilter(node: FilterNode, columns: Record<string, ColumnType>, entityName: string): void {
  if (node.kind !== "cmp") {
    checkFilter(node.left, columns, entityName);
    checkFilter(node.right, columns, entityName);
    return;
  }
  const colType = columns[node.prop];
  if (!colType) throw new ODataError(NO_PROPERTY, `Could not find a property named '${node.prop}' on type 'Microsoft.Dynamics.CRM.${entityName}'.`);
  const lt = node.literal.type;
  const ordered = colType === "Int32" || colType === "DateTimeOffset";
  if ((lt !== "Null" && lt !== colType) || (!ordered && !["eq", "ne"].includes(node.op))) {
    throw new ODataError(PARSE_ERROR, `A binary operator with incompatible types was detected. Found operand types 'Edm.${colType}' and '${lt === "Null" ? "<null>" : `Edm.${lt}`}' for operator kind '${OP_KIND[node.op]}'.`);
  }
}

/** Evaluates a checked filter against one row. Strings compare case-insensitively, as Dataverse does. */
export function matches(node: FilterNode, row: Record<string, unknown>): boolean {
  if (node.kind !== "cmp") return node.kind === "and" ? matches(node.left, row) && matches(node.right, row) : matches(node.left, row) || matches(node.right, row);
  const v = row[node.prop] ?? null;
  const lit = node.literal;
  if (lit.type === "Null" || v === null) {
    const same = lit.type === "Null" && v === null;
    return node.op === "eq" ? same : node.op === "ne" ? !same : false;
  }
  let cmp: number;
  if (lit.type === "String" || lit.type === "Guid") cmp = String(v).toLowerCase().localeCompare(lit.value.toLowerCase());
  else if (lit.type === "DateTimeOffset") cmp = Date.parse(String(v)) - Date.parse(lit.value);
  else cmp = Number(v) - Number(lit.value);
  switch (node.op) {
    case "eq":
      return cmp === 0;
    case "ne":
      return cmp !== 0;
    case "gt":
      return cmp > 0;
    case "ge":
      return cmp >= 0;
    case "lt":
      return cmp < 0;
    case "le":
      return cmp <= 0;
  }
}

/** Parses `$select` against the columns; undefined means all columns. */
export function parseSelect(src: string | null, columns: Record<string, ColumnType>, entityName: string): string[] | undefined {
  if (src === null) return undefined;
  const cols = src.split(",").map((c) => c.trim());
  for (const c of cols) {
    if (!IDENT.test(c)) throw new ODataError(PARSE_ERROR, `Syntax error in $select: '${c}' is not a property name.`);
    if (!columns[c]) throw new ODataError(NO_PROPERTY, `Could not find a property named '${c}' on type 'Microsoft.Dynamics.CRM.${entityName}'.`);
  }
  return cols;
}

export function parseTop(src: string | null): number | undefined {
  if (src === null) return undefined;
  if (!/^\d+$/.test(src.trim())) throw new ODataError(PARSE_ERROR, `Invalid value '${src}' for $top query option found. The $top query option requires a non-negative integer value.`);
  return Number(src.trim());
}
