import { describe, expect, it } from "vitest";
import { reportHtml } from "../../src/report/html.js";
import { evidence, scenario } from "./fixture.js";

describe("reportHtml", () => {
  it("escapes every value from outside: a hostile scenario name, UPN or problem is text, not markup", () => {
    const html = reportHtml(
      evidence({
        scenarios: [scenario({ name: `<script>alert("x")</script>`, caller: { kind: "caller", label: "token from a file", upn: `o'hara"@x<y>` }, passed: false, problems: ["status 500 & <b>"] })],
      }),
    );
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).toContain("o&#39;hara&quot;@x&lt;y&gt;");
    expect(html).toContain("status 500 &amp; &lt;b&gt;");
  });

  it("is self-contained and prints: inline CSS only, a print stylesheet, a CSP that forbids fetching", () => {
    const html = reportHtml(evidence());
    expect(html).not.toMatch(/<(script|link|img|iframe|object)\b|url\(|@import/i);
    expect(html).toContain("@media print");
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
  });

  it("says so when no applied plan is recorded, and names the change when one is", () => {
    expect(reportHtml(evidence())).toContain("no applied plan recorded");
    const recorded = reportHtml(
      evidence({
        appliedPlan: { state: "recorded", plan: { planDigest: "d".repeat(64), changeId: "CHG-7", planner: { name: "pat" }, applier: { objectId: "a-1" } } },
        policies: [{ ...evidence().policies[0]!, plan: "differs" }],
      }),
    );
    expect(recorded).toContain("change CHG-7");
    expect(recorded).toContain("planned by pat");
    expect(recorded).toContain("applied by a-1");
    expect(recorded).toContain("differs from the last applied plan");
  });

  it("lists what was not checked, and a link only for an http(s) pipeline URL", () => {
    const html = reportHtml(evidence({ notChecked: [{ what: "Agent x", why: "no caller" }], url: "javascript:alert(1)" }));
    expect(html).toContain("<strong>Agent x</strong>: no caller");
    expect(html).not.toContain('href="javascript:');
  });
});
