import type { Config } from "../config/schema.js";
import type { IdentityServices } from "../azure/identity-services.js";

/** bot.authenticationmode labels (Copilot Studio); 2 and 3 are the Entra ID modes. */
const AUTHENTICATION_MODES: Record<number, string> = { 0: "Unspecified", 1: "None", 2: "Integrated", 3: "Custom Azure Active Directory", 4: "Generic OAuth2" };

export interface AgentVerdict {
  agentId: string;
  schemaName?: string;
  ok: boolean;
  /** What to change, one line each; empty when ok. */
  problems: string[];
}

/** The seed's prerequisite 4, pure: Entra ID sign-in (mode 2 or 3), required always (trigger 1). */
export function evaluatePrecondition(agentId: string, mode: number | null, trigger: number | null): AgentVerdict {
  const problems: string[] = [];
  if (mode !== 2 && mode !== 3) {
    problems.push(`authentication is ${AUTHENTICATION_MODES[mode ?? 0] ?? `mode ${mode}`}: set it to "Authenticate with Microsoft" (Integrated) or Microsoft Entra ID (Custom Azure Active Directory) in Copilot Studio > Settings > Security > Authentication`);
  }
  if (trigger !== 1) problems.push(`"Require users to sign in" is off: turn it on (authenticationtrigger Always)`);
  return { agentId, ok: problems.length === 0, problems };
}

/** Reads each configured agent's bot row from its environment and evaluates it. */
export async function checkAgents(config: Config, identity: IdentityServices): Promise<AgentVerdict[]> {
  return Promise.all(
    config.agents.map(async (agent, i): Promise<AgentVerdict> => {
      if (!agent.schemaName) return { agentId: agent.id, ok: false, problems: [`agents[${i}].schemaName is not set: add the agent's Copilot Studio schema name to check it`] };
      const bot = await identity.dataverse(agent.environmentUrl ?? config.dataverse.url).bot(agent.schemaName);
      if (!bot) return { agentId: agent.id, schemaName: agent.schemaName, ok: false, problems: [`no Copilot Studio agent with schema name '${agent.schemaName}' in ${agent.environmentUrl ?? config.dataverse.url}`] };
      return { ...evaluatePrecondition(agent.id, bot.authenticationmode, bot.authenticationtrigger), schemaName: agent.schemaName };
    }),
  );
}

export function formatVerdict(v: AgentVerdict): string[] {
  const name = v.schemaName ? `${v.agentId} (${v.schemaName})` : v.agentId;
  return v.ok ? [`${name}: ok (Entra ID sign-in, required)`] : v.problems.map((p) => `${name}: ${p}`);
}
