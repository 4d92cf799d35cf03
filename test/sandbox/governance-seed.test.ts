// The governance seed checked against the gateway contract by an independent evaluator, and the
// OData filter parser on its own.
import { describe, expect, test } from "vitest";
import { sandboxPersonas } from "../../sandbox/index.js";
import { BlockReason, COMPLIANCE_ROWS, Decision, ENTITLEMENT_ROWS, HR_AGENT, KB_AGENT, KB_GROUP, Pathway, RiskLevel, hasOverage, type Expectation, type Persona } from "../../sandbox/governance/personas.js";
import { ODataError, checkFilter, matches, parseFilter } from "../../sandbox/governance/odata.js";

const AUDIENCE: Record<string, string> = { [KB_AGENT]: KB_GROUP, [HR_AGENT]: "66666666-7777-8888-9999-000000000000" };
const NOW = Date.parse("2026-06-09T12:00:00Z");

/** The contract's order of evaluation (default allow-anomaly), written from the contract text. */
function decide(p: Persona, agentId: string, o: { version: "v1" | "v2"; fallback: boolean }): Expectation {
  const allow = (anomaly = false): Expectation => ({ status: 200, denyReason: "None", anomaly });
  const deny = (status: 401 | 403, denyReason: Expectation["denyReason"]): Expectation => ({ status, denyReason, anomaly: false });
  if (o.version === "v2" && !p.upnInV2) return deny(401, "MissingRequiredClaim");
  const inClaim = !hasOverage(p) && p.groups.includes(AUDIENCE[agentId]!);
  const viaGraph = hasOverage(p) && o.fallback && p.groups.includes(AUDIENCE[agentId]!);
  if (!inClaim && !viaGraph) return deny(403, "OutOfPolicyAudience");
  const risk = COMPLIANCE_ROWS.find((r) => r.fsi_agentid === agentId)?.fsi_risklevel;
  if (risk !== RiskLevel.Low && risk !== RiskLevel.Medium) return deny(403, "AgentNonCompliant");
  const row = ENTITLEMENT_ROWS.find((r) => r.fsi_agentid === agentId && r.fsi_userupn === p.upn);
  if (!row || (row.fsi_ttlexpiresat && Date.parse(row.fsi_ttlexpiresat) < NOW)) return allow(true);
  const pw = row.fsi_pathway;
  if (pw === Pathway.none || pw === Pathway["mcp-cs"] || pw === Pathway["mcp-agentbuilder"] || pw === Pathway["api-direct"]) return allow();
  if (pw === Pathway.metered) {
    if (row.fsi_decision === Decision.Allow || row.fsi_decision === Decision["Allow - Eligibility N/A"]) return allow();
    if (row.fsi_decision === Decision["Fail-open - Anomaly"]) return allow(true);
    return deny(403, "NotInEligibleCohort");
  }
  return allow(true);
}

describe("governance seed", () => {
  const { personas, agents } = sandboxPersonas();

  test("every persona's expectations follow from the contract and the seed rows", () => {
    for (const p of personas) {
      const checks = [{ agentId: KB_AGENT, expected: p.expected, tokenVersion: p.tokenVersion, graphFallback: p.graphFallback }, ...(p.alsoExercises ?? [])];
      for (const c of checks) {
        const version = c.tokenVersion ?? "v1";
        const fallback = c.graphFallback ?? false;
        expect(decide(p, c.agentId, { version, fallback }), `${p.name} → ${c.agentId}`).toEqual(c.expected);
        // Without a version/fallback restriction the expectation must hold both ways.
        if (!c.tokenVersion) expect(decide(p, c.agentId, { version: "v2", fallback })).toEqual(c.expected);
        if (c.graphFallback === undefined) expect(decide(p, c.agentId, { version, fallback: true })).toEqual(c.expected);
      }
    }
  });

  test("covers every pathway and metered decision, an expired row, no row, no audience, overage, no upn", () => {
    const kb = ENTITLEMENT_ROWS.filter((r) => r.fsi_agentid === KB_AGENT);
    for (const v of Object.values(Pathway)) expect(kb.some((r) => r.fsi_pathway === v)).toBe(true);
    expect(kb.some((r) => r.fsi_pathway === null)).toBe(true);
    for (const d of Object.values(Decision)) expect(kb.some((r) => r.fsi_pathway === Pathway.metered && r.fsi_decision === d)).toBe(true);
    expect(kb.filter((r) => Date.parse(r.fsi_ttlexpiresat!) < Date.now())).toHaveLength(1);
    expect(personas.filter((p) => !kb.some((r) => r.fsi_userupn === p.upn)).map((p) => p.name)).toEqual(["mia"]);
    expect(personas.some((p) => !p.groups.includes(KB_GROUP) && !p.groups.includes(AUDIENCE[HR_AGENT]!))).toBe(true);
    const olga = personas.find((p) => p.name === "olga")!;
    expect(olga.groups.length).toBeGreaterThan(200);
    expect(olga.groups).toContain(KB_GROUP);
    expect(personas.some((p) => p.upn.includes("'"))).toBe(true);
    expect(personas.filter((p) => !p.upnInV2).map((p) => p.expected.denyReason)).toEqual(["MissingRequiredClaim"]);
    expect(agents.map((a) => a.riskLevel)).toEqual([RiskLevel.Low, RiskLevel.High, RiskLevel.Medium, RiskLevel.Critical, RiskLevel.Unknown, null]);
    expect(BlockReason["No eligible cohort"]).toBe(100000000);
    // GUIDs are unique and fixed.
    const ids = [...personas.map((p) => p.oid), ...ENTITLEMENT_ROWS.map((r) => r.fsi_cbgentitlementmaterializedid), ...COMPLIANCE_ROWS.map((r) => r.fsi_caicompliancestateid)];
    expect(new Set(ids).size).toBe(ids.length);
    expect(sandboxPersonas()).toEqual({ personas, agents });
  });
});

describe("OData $filter subset", () => {
  const cols = { a: "String", n: "Int32", t: "DateTimeOffset" } as const;
  const f = (s: string) => {
    const node = parseFilter(s);
    checkFilter(node, cols, "x");
    return node;
  };

  test("eq/ne/and/or/parentheses, doubled quotes, null, case-insensitive strings", () => {
    const row = { a: "O'Brien", n: 5, t: "2024-01-01T00:00:00Z" };
    expect(matches(f("a eq 'o''brien'"), row)).toBe(true);
    expect(matches(f("a eq 'o''brien' and n eq 5"), row)).toBe(true);
    expect(matches(f("a eq 'x' or (n eq 5 and a ne null)"), row)).toBe(true);
    expect(matches(f("n eq null"), row)).toBe(false);
    expect(matches(f("t lt 2025-01-01T00:00:00Z"), row)).toBe(true);
    expect(matches(f("a eq ''''"), { a: "'" })).toBe(true);
  });

  test.each([
    ["", "0x80060888"],
    ["a eq", "0x80060888"],
    ["a = 'x'", "0x80060888"],
    ["a eq 'x", "0x80060888"],
    ["a eq 'o'brien'", "0x80060888"],
    ["a eq 'x' and", "0x80060888"],
    ["(a eq 'x'", "0x80060888"],
    ["a eq 'x' n eq 1", "0x80060888"],
    ["n eq 'Low'", "0x80060888"],
    ["a gt 'x'", "0x80060888"],
    ["nope eq 1", "0x0"],
  ])("rejects %j with %s", (src, code) => {
    let err: unknown;
    try {
      f(src);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ODataError);
    expect((err as ODataError).code).toBe(code);
  });
});
