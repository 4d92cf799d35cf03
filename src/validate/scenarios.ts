import type { SandboxPersona } from "../azure/sandbox.js";
import type { Config, ValidationScenario } from "../config/schema.js";

/** What one scenario must produce, as the contract's validation matrix states it. */
export interface Expectation {
  status: number;
  denyReason: string;
  anomaly: boolean;
}

/** How a scenario's caller presents itself: a token source, or a token-failure case. */
export type TokenPlan =
  | { kind: "caller"; source: NonNullable<ValidationScenario["caller"]> }
  | { kind: "persona"; persona: string; version: "v1" | "v2" }
  | { kind: "failure"; failure: NonNullable<ValidationScenario["token"]> };

export interface Scenario {
  name: string;
  agentId: string;
  token: TokenPlan;
  expect: Expectation;
}

/** The scenarios of the configuration's validation plan. Pure. */
export function configuredScenarios(config: Config): Scenario[] {
  return (config.validation?.scenarios ?? []).map((s) => ({
    name: s.name,
    agentId: s.agent,
    token: s.caller ? { kind: "caller", source: s.caller } : { kind: "failure", failure: s.token! },
    expect: { status: s.expect.status, denyReason: s.expect.denyReason, anomaly: s.expect.anomaly },
  }));
}

/** The token-failure rows every plan can run: they need no caller. */
function tokenFailureScenarios(agentId: string): Scenario[] {
  const denied: Expectation = { status: 401, denyReason: "JwtValidationFailed", anomaly: false };
  return [
    { name: "no token", agentId, token: { kind: "failure", failure: "none" }, expect: denied },
    { name: "malformed token", agentId, token: { kind: "failure", failure: "malformed" }, expect: denied },
    { name: "token signed by a key aeg made up", agentId, token: { kind: "failure", failure: "forged" }, expect: denied },
    { name: "token for another tenant", agentId, token: { kind: "failure", failure: "other-tenant" }, expect: denied },
  ];
}

/** What the plan reads of a seeded persona. */
export type PersonaSeed = Pick<SandboxPersona, "name" | "exercises" | "expected" | "tokenVersion" | "graphFallback" | "alsoExercises">;

const UNKNOWN_PATHWAY = /^Pathway (unmapped|unknown)/;

/**
 * The sandbox plan: every seeded persona's contract row for the configured agents, adjusted to
 * this configuration's settings (Graph fallback, unknown-pathway mode), plus the token failures.
 */
export function personaScenarios(personas: PersonaSeed[], config: Config): Scenario[] {
  const agents = new Set(config.agents.map((a) => a.id));
  const fallback = config.graphFallback.enabled;
  const firstAgent = config.agents[0]!.id;
  const rows = personas.flatMap((p) =>
    [{ ...p, agentId: firstAgent }, ...(p.alsoExercises ?? [])].filter((c) => agents.has(c.agentId) && (c.graphFallback ?? fallback) === fallback).map((c) => ({ persona: p.name, check: c })),
  );
  return [
    ...rows.map(({ persona, check }) => ({
      name: `${persona}: ${check.exercises}`,
      agentId: check.agentId,
      token: { kind: "persona" as const, persona, version: check.tokenVersion ?? "v1" },
      expect:
        config.gateway.unknownPathway === "deny" && UNKNOWN_PATHWAY.test(check.exercises)
          ? { status: 403, denyReason: "NotInEligibleCohort", anomaly: true }
          : check.expected,
    })),
    ...tokenFailureScenarios(firstAgent),
  ];
}
