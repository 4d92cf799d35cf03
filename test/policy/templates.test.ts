import path from "node:path";
import { fileURLToPath } from "node:url";
import { XMLValidator } from "fast-xml-parser";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalizeFragment, canonicalizePolicy } from "../../src/policy/canonical.js";
import { agentSlug } from "../../src/policy/agent-slug.js";
import { AEG_NAMED_VALUES, isAllowedNamedValue } from "../../src/policy/named-values.js";
import {
  FRAGMENT_IDS,
  includedFragments,
  loadTemplates,
  packageRoot,
  referencedNamedValues,
  renderOperationPolicy,
  type TemplateSet,
} from "../../src/policy/templates.js";
import { parsePolicyXml, type XmlElement } from "../../src/policy/xml.js";

let set: TemplateSet;
beforeAll(async () => {
  set = await loadTemplates();
});

const all = (): Array<[string, string]> => [
  ...FRAGMENT_IDS.map((id): [string, string] => [id, set.fragments[id]]),
  ["api-policy", set.apiPolicy],
  ["operation-policy", set.operationPolicy],
];

const elements = (xml: string): XmlElement[] => {
  const out: XmlElement[] = [];
  const walk = (el: XmlElement): void => {
    out.push(el);
    for (const c of el.children) if (c.kind === "element") walk(c);
  };
  parsePolicyXml(xml).forEach(walk);
  return out;
};

describe("loadTemplates", () => {
  it("finds templates/ under the package root", () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    expect(set.dir).toBe(path.join(here, "..", "..", "templates"));
    expect(packageRoot(path.join(here, "..", "..", "dist", "src", "policy"))).toBe(path.join(here, "..", ".."));
  });
});

describe("templates", () => {
  it("every template parses, strictly and canonically", () => {
    for (const [name, xml] of all()) {
      expect(() => canonicalizePolicy(xml), name).not.toThrow();
      const root = parsePolicyXml(xml);
      expect(root, name).toHaveLength(1);
      // Strict XML too (not only this module's lenient reader), so any XML tool can read them.
      expect(XMLValidator.validate(xml), name).toBe(true);
      const canonical = canonicalizePolicy(xml);
      expect(canonicalizePolicy(canonical), name).toBe(canonical);
    }
  });

  it("fragments have a <fragment> root, no sections and no <base/>, and stay under 32 KB", () => {
    for (const id of FRAGMENT_IDS) {
      const xml = set.fragments[id];
      expect(parsePolicyXml(xml)[0]!.name).toBe("fragment");
      const names = elements(xml).map((e) => e.name);
      for (const banned of ["policies", "inbound", "backend", "outbound", "on-error", "base", "include-fragment"]) {
        expect(names, `${id} contains <${banned}>`).not.toContain(banned);
      }
      expect(Buffer.byteLength(xml, "utf8")).toBeLessThan(32 * 1024);
      expect(canonicalizeFragment(xml)).toBe(canonicalizePolicy(xml));
    }
  });

  it("every {{name}} in every template is an allowed named value", () => {
    for (const [name, xml] of all()) {
      for (const nv of referencedNamedValues(xml)) expect(isAllowedNamedValue(nv), `${name}: {{${nv}}}`).toBe(true);
    }
  });

  it("the fragments use the global named values the contract needs", () => {
    const used = new Set(FRAGMENT_IDS.flatMap((id) => referencedNamedValues(set.fragments[id])));
    for (const nv of [
      "aeg-tenant-id",
      "aeg-audience",
      "aeg-audience-2",
      "aeg-dataverse-resource",
      "aeg-decision-logger",
      "aeg-policy-version",
      "aeg-channel",
      "aeg-unknown-pathway",
      "aeg-graph-fallback",
    ]) {
      expect(used.has(nv), nv).toBe(true);
    }
    expect([...used].every((nv) => (AEG_NAMED_VALUES.global as readonly string[]).includes(nv))).toBe(true);
  });

  it("api policy includes the two fragments in order before <base/>, and echoes the correlation id", () => {
    expect(includedFragments(set.apiPolicy)).toEqual(["aeg-validate-jwt", "aeg-eligibility-check"]);
    const inbound = elements(set.apiPolicy).find((e) => e.name === "inbound")!;
    const kids = inbound.children.filter((c): c is XmlElement => c.kind === "element").map((e) => e.name);
    expect(kids).toEqual(["include-fragment", "include-fragment", "base"]);
    expect(canonicalizePolicy(set.apiPolicy)).toMatch(/<outbound>[\s\S]*X-AEG-Correlation-Id[\s\S]*<\/outbound>/);
  });

  it("log-to-eventhub always names the decision logger", () => {
    for (const [name, xml] of all()) {
      for (const el of elements(xml).filter((e) => e.name === "log-to-eventhub")) {
        expect(el.attributes, name).toEqual([{ name: "logger-id", value: "{{aeg-decision-logger}}" }]);
      }
    }
  });
});

describe("renderOperationPolicy", () => {
  it("references exactly the two per-agent named values, sets them before <base/>", () => {
    const xml = renderOperationPolicy(set, { slug: "contoso-kb-assistant" });
    expect(referencedNamedValues(xml)).toEqual([
      "aeg-agent-id-contoso-kb-assistant",
      "aeg-audience-group-id-contoso-kb-assistant",
    ]);
    expect(includedFragments(xml)).toEqual([]);
    const sections = parsePolicyXml(xml)[0]!.children.filter((c): c is XmlElement => c.kind === "element");
    expect(sections.map((s) => s.name)).toEqual(["inbound", "backend", "outbound", "on-error"]);
    const inbound = sections[0]!.children.filter((c): c is XmlElement => c.kind === "element");
    expect(inbound.map((e) => [e.name, e.attributes[0]?.value])).toEqual([
      ["set-variable", "aeg-agent-id"],
      ["set-variable", "aeg-audience-group-id"],
      ["base", undefined],
    ]);
    for (const s of sections) expect(s.children.some((c) => c.kind === "element" && c.name === "base")).toBe(true);
  });

  it("rejects a string that is not a slug", () => {
    expect(() => renderOperationPolicy(set, { slug: "Bad Slug" })).toThrow();
    expect(() => renderOperationPolicy(set, { slug: "" })).toThrow();
  });
});

describe("agentSlug", () => {
  it.each([
    ["contoso-kb-assistant", "contoso-kb-assistant"],
    ["Contoso KB Assistant", "contoso-kb-assistant"],
    ["  --Agent__42!!  ", "agent-42"],
    ["Café/Crème", "cafe-creme"],
    ["cr6f1_agent.v2", "cr6f1-agent-v2"],
    ["a".repeat(39) + "-bcd", "a".repeat(39)],
  ])("%s → %s", (id, slug) => {
    expect(agentSlug(id)).toBe(slug);
  });

  it("is at most 40 characters of [a-z0-9-] and rejects ids with nothing usable", () => {
    const s = agentSlug("x".repeat(100));
    expect(s).toHaveLength(40);
    expect(() => agentSlug("!!!")).toThrow();
  });
});

describe("referencedNamedValues / includedFragments", () => {
  it("lists unique names, sorted, and surfaces stray {{ text", () => {
    expect(referencedNamedValues('<a x="{{b}}">{{a}} {{b}}</a>')).toEqual(["a", "b"]);
    expect(referencedNamedValues("<a>@{ if (x) {{ y(); }} }</a>")).toEqual([" y(); "]);
  });

  it("ignores include-fragment inside comments", () => {
    expect(
      includedFragments('<policies><inbound><!-- <include-fragment fragment-id="old"/> --><include-fragment fragment-id="new"/></inbound></policies>'),
    ).toEqual(["new"]);
  });
});
