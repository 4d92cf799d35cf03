// Policy lint: what APIM would refuse at save time (or accept and then fail at run time), caught
// before aeg writes anything. Pure: the caller passes what exists (named values, fragments, loggers).

import { referencedNamedValues } from "./templates.js";
import { parsePolicyXml, PolicyXmlError, type XmlElement } from "./xml.js";

export interface LintScope {
  /** Named values by display name, with their values (logger-id="{{…}}" resolves through them). */
  namedValues: ReadonlyMap<string, string>;
  /** Fragment id → its XML, for include-fragment checks and section rules of what it contains. */
  fragments: ReadonlyMap<string, string>;
  loggers: ReadonlySet<string>;
}

export interface LintProblem {
  document: string;
  line?: number;
  column?: number;
  message: string;
}

type Section = "inbound" | "backend" | "outbound" | "on-error";
const SECTIONS: Section[] = ["inbound", "backend", "outbound", "on-error"];

/** Policies APIM allows only in some sections (reference A1-A11). Others are allowed anywhere. */
const ALLOWED_SECTIONS: Record<string, Section[]> = {
  "validate-jwt": ["inbound"],
  "validate-azure-ad-token": ["inbound"],
  "authentication-managed-identity": ["inbound"], // standalone; inside send-request it is a child
  "set-backend-service": ["inbound", "backend"],
  "forward-request": ["backend"],
  "include-fragment": ["inbound", "backend", "outbound", "on-error"],
};

/** What on-error may contain (reference A1). */
const ON_ERROR_ALLOWED = new Set([
  "choose", "set-variable", "find-and-replace", "return-response", "set-header", "set-method", "set-status", "send-request",
  "send-one-way-request", "log-to-eventhub", "json-to-xml", "xml-to-json", "limit-concurrency", "mock-response", "retry", "trace",
  "include-fragment", "base",
]);

/** Attributes that take no policy expression (a named value is fine: it is substituted first). */
const NO_EXPRESSION: Array<[element: string, attribute: string]> = [
  ["include-fragment", "fragment-id"],
  ["log-to-eventhub", "logger-id"],
  ["log-to-eventhub", "partition-id"],
  ["set-variable", "name"],
  ["validate-jwt", "output-token-variable-name"],
  ["send-request", "response-variable-name"],
  ["authentication-managed-identity", "client-id"],
];

/** Elements whose children are not policies (their content is configuration). */
const OPAQUE = new Set(["validate-jwt", "send-request", "return-response", "set-body", "set-header", "log-to-eventhub", "set-url", "set-method", "value", "set-status"]);

export function lintPolicy(document: string, xml: string, kind: "policy" | "fragment", scope: LintScope): LintProblem[] {
  const problems: LintProblem[] = [];
  const at = (el: XmlElement | undefined, message: string) => problems.push({ document, ...(el ? { line: el.line, column: el.column } : {}), message });

  for (const name of referencedNamedValues(xml)) {
    if (!scope.namedValues.has(name)) at(undefined, `{{${name}}} names a named value that is not defined`);
  }
  let roots: XmlElement[];
  try {
    roots = parsePolicyXml(xml);
  } catch (err) {
    if (err instanceof PolicyXmlError) return [...problems, { document, line: err.line, column: err.column, message: `not well-formed XML: ${err.message}` }];
    throw err;
  }
  const root = roots.length === 1 ? roots[0]! : undefined;

  const visit = (el: XmlElement, section: Section | undefined, insideSendRequest: boolean, seen: { forward: number }) => {
    checkElement(el, section, insideSendRequest, seen);
    if (OPAQUE.has(el.name) && el.name !== "send-request") return;
    for (const child of el.children) {
      if (child.kind === "element") visit(child, section, insideSendRequest || el.name === "send-request", seen);
    }
  };

  const checkElement = (el: XmlElement, section: Section | undefined, insideSendRequest: boolean, seen: { forward: number }) => {
    for (const [element, attribute] of NO_EXPRESSION) {
      const value = el.name === element ? el.attributes.find((a) => a.name === attribute)?.value : undefined;
      if (value !== undefined && /^\s*@[({]/.test(value)) at(el, `<${element} ${attribute}> does not take a policy expression`);
    }
    if (el.name === "set-method" && insideSendRequest && /@[({]/.test(textOf(el))) at(el, "<set-method> inside send-request does not take a policy expression");
    if (el.name === "base" && kind === "fragment") at(el, "a fragment cannot contain <base/>");
    if ((SECTIONS as string[]).includes(el.name) && kind === "fragment") at(el, `a fragment cannot contain the section <${el.name}>`);
    if (section) {
      const allowed = ALLOWED_SECTIONS[el.name];
      const standalone = !(el.name === "authentication-managed-identity" && insideSendRequest);
      if (allowed && standalone && !allowed.includes(section)) at(el, `<${el.name}> is not allowed in <${section}>`);
      if (section === "on-error" && !insideSendRequest && isTopLevelPolicy(el) && !ON_ERROR_ALLOWED.has(el.name)) at(el, `<${el.name}> is not allowed in <on-error>`);
    }
    if (el.name === "forward-request" && ++seen.forward > 1) at(el, "<forward-request> may appear only once per document");
    if (el.name === "include-fragment") {
      const id = el.attributes.find((a) => a.name === "fragment-id")?.value ?? "";
      const fragment = scope.fragments.get(id);
      if (fragment === undefined) at(el, `include-fragment names '${id}', which is not a known fragment`);
      else if (section) {
        // A fragment runs where it is included: its policies must be allowed in that section.
        for (const inner of sectionProblems(fragment, section)) at(el, `fragment '${id}' included in <${section}>: ${inner}`);
      }
    }
    if (el.name === "log-to-eventhub") {
      const raw = el.attributes.find((a) => a.name === "logger-id")?.value ?? "";
      const id = raw.replace(/\{\{([^}]*)\}\}/g, (_m, nv: string) => scope.namedValues.get(nv) ?? `{{${nv}}}`);
      if (!scope.loggers.has(id)) at(el, `log-to-eventhub names logger '${id}', which does not exist`);
    }
  };

  if (kind === "policy") {
    if (!root || root.name !== "policies") {
      at(roots[0], "a policy document must have the single root <policies>");
      return problems;
    }
    for (const child of root.children) {
      if (child.kind !== "element") continue;
      if (!(SECTIONS as string[]).includes(child.name)) {
        at(child, `<${child.name}> is not a policy section (inbound, backend, outbound, on-error)`);
        continue;
      }
      const seen = { forward: 0 };
      for (const policy of child.children) if (policy.kind === "element") visit(policy, child.name as Section, false, seen);
    }
  } else {
    const top = root?.name === "fragment" ? root.children.filter((c): c is XmlElement => c.kind === "element") : roots;
    const seen = { forward: 0 };
    for (const el of top) visit(el, undefined, false, seen);
  }
  return problems;
}

/** Section rule violations of a fragment's own policies when included in `section`. */
function sectionProblems(fragmentXml: string, section: Section): string[] {
  const out: string[] = [];
  const walk = (el: XmlElement, insideSendRequest: boolean) => {
    const allowed = ALLOWED_SECTIONS[el.name];
    const standalone = !(el.name === "authentication-managed-identity" && insideSendRequest);
    if (allowed && standalone && !allowed.includes(section)) out.push(`<${el.name}> (line ${el.line}) is not allowed there`);
    for (const c of el.children) if (c.kind === "element") walk(c, insideSendRequest || el.name === "send-request");
  };
  try {
    for (const root of parsePolicyXml(fragmentXml)) walk(root, false);
  } catch (err) {
    if (!(err instanceof PolicyXmlError)) throw err; // the fragment's own lint reports it
  }
  return out;
}

function textOf(el: XmlElement): string {
  return el.children.map((c) => (c.kind === "text" ? c.value : textOf(c))).join("");
}

/** Direct policies of a section (not configuration children like <value>). */
function isTopLevelPolicy(el: XmlElement): boolean {
  return !["value", "set-url", "when", "otherwise", "set-body"].includes(el.name);
}

export function formatProblem(p: LintProblem): string {
  return `${p.document}${p.line ? `:${p.line}:${p.column}` : ""}: ${p.message}`;
}
