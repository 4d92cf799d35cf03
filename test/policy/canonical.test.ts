import { describe, expect, it } from "vitest";
import { canonicalizeFragment, canonicalizePolicy, policyDiff, PolicyXmlError } from "../../src/policy/canonical.js";

const same = (a: string, b: string): void => {
  expect(canonicalizePolicy(b)).toBe(canonicalizePolicy(a));
  expect(policyDiff(a, b)).toEqual([]);
};

describe("canonicalizePolicy: APIM rewrites are not drift", () => {
  it("CRLF + 2-space re-indent + self-closing spacing (ApiManagementCreateApiPolicy)", () => {
    same(
      "<policies> <inbound /> <backend>    <forward-request />  </backend>  <outbound /></policies>",
      "<policies>\r\n  <inbound />\r\n  <backend>\r\n    <forward-request />\r\n  </backend>\r\n  <outbound />\r\n</policies>",
    );
  });

  it("=> written raw in rawxml and as =&gt; in the xml read-back", () => {
    const sent =
      '<policies>\r\n     <inbound>\r\n     <base />\r\n  <set-header name="newvalue" exists-action="override">\r\n   <value>"@(context.Request.Headers.FirstOrDefault(h => h.Ke=="Via"))" </value>\r\n    </set-header>\r\n  </inbound>\r\n      </policies>';
    const back =
      '<policies>\r\n  <inbound>\r\n    <base />\r\n    <set-header name="newvalue" exists-action="override">\r\n      <value>"@(context.Request.Headers.FirstOrDefault(h =&gt; h.Ke=="Via"))"</value>\r\n    </set-header>\r\n  </inbound>\r\n</policies>';
    same(sent, back);
  });

  it("tabs in rawxml and &#xA; for newlines inside an attribute", () => {
    const sent = `<fragment>
  <set-variable name="UserId" value="@{
      var jwt = context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;, &quot;&quot;).AsJwt();
      return jwt?.Subject;
  }" />
</fragment>`;
    const back =
      '<fragment>\r\n\t<set-variable name="UserId" value="@{&#xA;\t\tvar jwt = context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;, &quot;&quot;).AsJwt();&#xA;\t\treturn jwt?.Subject;&#xA;\t}" />\r\n</fragment>';
    same(sent, back);
  });

  it("single vs double attribute quotes and entity forms", () => {
    same(
      `<policies><inbound><choose><when condition='@(context.Variables.GetValueOrDefault&lt;bool>("x") &amp;&amp; 1 > 0)'><set-variable name='a' value='it&apos;s' /></when></choose></inbound></policies>`,
      `<policies><inbound><choose><when condition="@(context.Variables.GetValueOrDefault&lt;bool&gt;(&quot;x&quot;) &amp;&amp; 1 &gt; 0)"><set-variable name="a" value="it's"></set-variable></when></choose></inbound></policies>`,
    );
  });

  it("APIM-lenient expressions (raw < and nested quotes) read like their escaped form", () => {
    same(
      `<policies><inbound><choose><when condition="@(context.Variables.GetValueOrDefault<bool>("isMobile") && a < b)" /></choose></inbound></policies>`,
      `<policies><inbound><choose><when condition='@(context.Variables.GetValueOrDefault&lt;bool&gt;("isMobile") &amp;&amp; a &lt; b)' /></choose></inbound></policies>`,
    );
  });

  it("leading comment block in format=xml and comments anywhere are dropped", () => {
    same(
      "<policies><inbound><base /></inbound></policies>",
      "<!--\r\n    IMPORTANT:\r\n    - Policy elements can appear only within the <inbound>, <outbound>, <backend> section elements.\r\n-->\r\n<policies>\r\n  <inbound>\r\n    <!-- ours -->\r\n    <base />\r\n  </inbound>\r\n</policies>",
    );
  });

  it("whitespace-only text, empty vs self-closing, indentation inside multi-line text", () => {
    same(
      "<policies><outbound><set-body>@{\n  return \"a\";\n}</set-body><base></base></outbound></policies>",
      "<policies>\n\t<outbound>\n\t\t<set-body>@{\n\t\t\treturn \"a\";\n\n\t\t}</set-body>\n\t\t<base />\n\t</outbound>\n</policies>",
    );
  });

  it("CDATA reads as text", () => {
    same(
      "<policies><inbound><set-body>a &lt; b</set-body></inbound></policies>",
      "<policies><inbound><set-body><![CDATA[a < b]]></set-body></inbound></policies>",
    );
  });

  it("is idempotent and shows expressions unescaped", () => {
    const c = canonicalizePolicy(
      `<policies><inbound><set-variable name="v" value='@{&#xA;  var x = context.Variables.GetValueOrDefault&lt;string&gt;("a", "");&#xA;  return x == "&apos;" ? "q" : x;&#xA;}' /><set-header name="h"><value>a &amp; b</value></set-header></inbound></policies>`,
    );
    expect(canonicalizePolicy(c)).toBe(c);
    expect(c).toContain('var x = context.Variables.GetValueOrDefault<string>("a", "");');
    expect(c).toContain("<value>a &amp; b</value>");
    expect(c.split("\n")[0]).toBe("<policies>");
  });
});

describe("canonicalizeFragment", () => {
  it("treats content with and without the <fragment> root the same", () => {
    const wrapped = '<fragment><json-to-xml apply="always" consider-accept-header="false" /></fragment>';
    const bare = '<json-to-xml apply="always" consider-accept-header="false" />';
    expect(canonicalizeFragment(bare)).toBe(canonicalizeFragment(wrapped));
    expect(canonicalizeFragment(wrapped)).toBe(
      '<fragment>\n  <json-to-xml apply="always" consider-accept-header="false"/>\n</fragment>',
    );
    expect(policyDiff(wrapped, bare)).toEqual([]);
  });

  it("accepts several top-level elements when unwrapped", () => {
    expect(canonicalizeFragment('<set-variable name="a" value="1" />\r\n<base-less />')).toBe(
      canonicalizeFragment('<fragment>\n  <set-variable name="a" value="1"/>\n  <base-less/>\n</fragment>'),
    );
  });
});

describe("real changes are drift", () => {
  const base = `<policies>
  <inbound>
    <set-variable name="a" value="1" />
    <set-header name="x" exists-action="override"><value>@(context.RequestId.ToString())</value></set-header>
    <base />
  </inbound>
  <outbound>
    <base />
  </outbound>
</policies>`;

  it("an attribute value changed", () => {
    const d = policyDiff(base, base.replace('value="1"', 'value="2"'));
    expect(d).toContain('-     <set-variable name="a" value="1"/>');
    expect(d).toContain('+     <set-variable name="a" value="2"/>');
    expect(d[0]).toMatch(/^@@ line \d+ @@$/);
  });

  it("an element added", () => {
    const d = policyDiff(base, base.replace("<outbound>", '<outbound>\n    <set-status code="200" />'));
    expect(d.filter((l) => l.startsWith("+ "))).toEqual(['+     <set-status code="200"/>']);
    expect(d.filter((l) => l.startsWith("- "))).toEqual([]);
  });

  it("an expression changed", () => {
    const d = policyDiff(base, base.replace("RequestId.ToString()", "RequestId.ToString(\"N\")"));
    expect(d.some((l) => l.startsWith("- ") && l.includes("ToString())"))).toBe(true);
    expect(d.some((l) => l.startsWith("+ ") && l.includes('ToString("N")'))).toBe(true);
  });

  it("element order changed", () => {
    const swapped = base.replace(
      '<set-variable name="a" value="1" />\n    <set-header',
      '<set-header',
    ).replace("<base />\n  </inbound>", '<set-variable name="a" value="1" />\n    <base />\n  </inbound>');
    expect(canonicalizePolicy(swapped)).not.toBe(canonicalizePolicy(base));
    expect(policyDiff(base, swapped).length).toBeGreaterThan(0);
  });

  it("a whitespace change inside an expression line is drift; a comment change is not", () => {
    expect(policyDiff(base, base.replace("RequestId.ToString()", "RequestId .ToString()")).length).toBeGreaterThan(0);
    expect(policyDiff(base, base.replace("<base />", "<!-- x --><base />"))).toEqual([]);
  });

  it("caps long diffs", () => {
    const many = (v: string): string =>
      `<policies><inbound>${Array.from({ length: 100 }, (_, i) => `<set-variable name="v${i}" value="${v}" />`).join("")}</inbound></policies>`;
    const d = policyDiff(many("a"), many("b"), { maxLines: 10 });
    expect(d).toHaveLength(11);
    expect(d[10]).toMatch(/more changed line/);
  });
});

describe("malformed XML", () => {
  const cases: Array<[string, string, number, number]> = [
    ["mismatched close", "<policies>\n  <inbound>\n  </outbound>\n</policies>", 3, 3],
    ["unclosed element", "<policies>\n  <inbound>", 2, 3],
    ["bare ampersand", '<policies>\n<inbound a="x & y" /></policies>', 2, 15],
    ["unquoted attribute", "<policies><inbound a=1 /></policies>", 1, 22],
    ["duplicate attribute", '<policies a="1" a="2"/>', 1, 17],
    ["two roots", "<policies/>\r\n<policies/>", 2, 1],
    ["text outside root", "hello <policies/>", 1, 1],
  ];
  for (const [name, xml, line, column] of cases) {
    it(name, () => {
      let caught: unknown;
      try {
        canonicalizePolicy(xml);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(PolicyXmlError);
      expect(caught).toMatchObject({ line, column });
    });
  }
});
