import { decodeJwt } from "jose";
import type { TokenPlan } from "./scenarios.js";

/**
 * Who a scenario called as, for people reading results: the persona or the token source, and the
 * UPN the presented token carries. Never the token: only its `upn` claim is kept.
 */
export interface ScenarioCaller {
  kind: "persona" | "caller" | "none";
  label: string;
  upn?: string;
}

const FAILURE_LABELS: Record<Extract<TokenPlan, { kind: "failure" }>["failure"], string> = {
  none: "no caller: no token",
  malformed: "no caller: a malformed token",
  forged: "no caller: a token signed by a key aeg made up",
  "other-tenant": "no caller: a token from another tenant",
};

/** Pure. A failure token's claims are made up, so none of them is shown. */
export function describeCaller(plan: TokenPlan, token: string | undefined): ScenarioCaller {
  if (plan.kind === "failure") return { kind: "none", label: FAILURE_LABELS[plan.failure] };
  const upn = token ? upnOf(token) : undefined;
  const label = plan.kind === "persona" ? `persona ${plan.persona}` : callerSource(plan.source);
  return { kind: plan.kind, label, ...(upn ? { upn } : {}) };
}

function callerSource(source: Extract<TokenPlan, { kind: "caller" }>["source"]): string {
  switch (source.from) {
    case "env":
      return `token from environment variable ${source.variable}`;
    case "file":
      return "token from a file";
    // The command line may hold anything the user typed: it is not repeated.
    case "command":
      return "token from a command";
    case "interactive":
      return `interactive sign-in as ${source.loginHint}`;
  }
}

function upnOf(token: string): string | undefined {
  try {
    const claims = decodeJwt(token);
    const upn = claims["upn"] ?? claims["unique_name"] ?? claims["preferred_username"];
    return typeof upn === "string" && upn ? upn : undefined;
  } catch {
    return undefined;
  }
}
