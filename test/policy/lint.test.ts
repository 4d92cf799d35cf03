import { describe, expect, it } from "vitest";
import { lintPolicy, type LintScope } from "../../src/policy/lint.js";
import { loadTemplates } from "../../src/policy/templates.js";

const scope: LintScope = {
  namedValues: new Map([["aeg-decision-logger", "aeg-decision-logger"], ["aeg-tenant-id", "t"]]),
  fragments: new Map([
    ["jwt", '<fragment><validate-jwt header-name="Authorization"><openid-config url="x" /></validate-jwt></fragment>'],
    ["log", '<fragment><set-variable name="a" value="1" /></fragment>'],
  ]),
  loggers: new Set(["aeg-decision-logger"]),
};
const policy = (inbound: string, rest = "") => `<policies><inbound>${inbound}</inbound><backend><forward-request /></backend>${rest}</policies>`;
const messages = (xml: string, kind: "policy" | "fragment" = "policy") => lintPolicy("doc", xml, kind, scope).map((p) => p.message);

describe("policy lint", () => {
  it("accepts a correct document", () => {
    expect(messages(policy('<include-fragment fragment-id="jwt" /><log-to-eventhub logger-id="{{aeg-decision-logger}}">@("x")</log-to-eventhub>'))).toEqual([]);
  });

  it("finds what APIM would reject, with positions", () => {
    const problems = lintPolicy(
      "doc",
      policy('<include-fragment fragment-id="nope" /><set-variable name="t" value="{{aeg-missing}}" />', '<outbound><validate-jwt header-name="A" /></outbound>'),
      "policy",
      scope,
    );
    expect(problems.map((p) => p.message)).toEqual([
      "{{aeg-missing}} names a named value that is not defined",
      "include-fragment names 'nope', which is not a known fragment",
      "<validate-jwt> is not allowed in <outbound>",
    ]);
    expect(problems[1]).toMatchObject({ line: 1 });
  });

  it("rejects malformed XML, sections and base in fragments, and unknown loggers", () => {
    expect(messages("<policies><inbound></policies>")[0]).toMatch(/^not well-formed XML/);
    expect(messages('<fragment><inbound /><base /><log-to-eventhub logger-id="other">x</log-to-eventhub></fragment>', "fragment")).toEqual([
      "a fragment cannot contain the section <inbound>",
      "a fragment cannot contain <base/>",
      "log-to-eventhub names logger 'other', which does not exist",
    ]);
  });

  it("rejects expressions where APIM takes none, and a fragment included where its policies may not run", () => {
    expect(messages(policy('<include-fragment fragment-id="@(&quot;jwt&quot;)" />'))).toContain("<include-fragment fragment-id> does not take a policy expression");
    expect(messages(policy("", '<outbound><include-fragment fragment-id="jwt" /></outbound>'))).toEqual([
      "fragment 'jwt' included in <outbound>: <validate-jwt> (line 1) is not allowed there",
    ]);
    expect(messages(policy('<send-request response-variable-name="r"><set-url>x</set-url><set-method>@("GET")</set-method></send-request>'))).toEqual([
      "<set-method> inside send-request does not take a policy expression",
    ]);
    expect(messages(policy("", "<on-error><forward-request /></on-error>"))).toContain("<forward-request> is not allowed in <on-error>");
  });

  it("passes the shipped templates", async () => {
    const t = await loadTemplates();
    const names = new Map(
      [...`${t.apiPolicy}${Object.values(t.fragments).join("")}`.matchAll(/\{\{(.*?)\}\}/g)].map((m) => [m[1]!, m[1] === "aeg-decision-logger" ? "aeg-decision-logger" : "v"]),
    );
    const all: LintScope = { namedValues: names, fragments: new Map(Object.entries(t.fragments)), loggers: new Set(["aeg-decision-logger"]) };
    expect(lintPolicy("api", t.apiPolicy, "policy", all)).toEqual([]);
    for (const [id, xml] of Object.entries(t.fragments)) expect(lintPolicy(id, xml, "fragment", all)).toEqual([]);
  });
});
