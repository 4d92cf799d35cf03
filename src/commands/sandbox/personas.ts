import path from "node:path";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../../app/base-command.js";
import { DEFAULT_SANDBOX_DIR, sandboxEndpoints, sandboxPersonas, type SandboxPersona } from "../../azure/sandbox.js";
import { readConfigFile, resolveConfig } from "../../config/load.js";
import { sandboxSampleConfig } from "../../config/sandbox-sample.js";
import { agentSlug } from "../../policy/agent-slug.js";
import { APIM_LIMITS } from "../../steps/apim-limits.js";
import { placeOperations, shardOf } from "../../steps/api-shards.js";

interface PersonasResult extends CommandResult {
  running: boolean;
  personas: SandboxPersona[];
  agents: Array<{ id: string; url: string; audienceGroupId: string; riskLevel: number | null }>;
}

export default class SandboxPersonas extends AegCommand<PersonasResult> {
  static override summary = "List the sandbox's test personas, the contract row each exercises, and each agent's gateway URL";
  static override description = `Every persona is a signed-in user of the sandbox tenant with a known governance record; get a token for one with \`aeg sandbox token --persona NAME\` and call an agent's URL:

  curl --cacert .aeg/sandbox/ca.pem -H "Authorization: Bearer $(aeg sandbox token --persona alice)" -X POST <url>`;
  static override examples = ["<%= config.bin %> sandbox personas", "<%= config.bin %> sandbox personas --json"];

  static override flags = {
    "state-dir": Flags.string({ description: "where the sandbox keeps its tenant", default: DEFAULT_SANDBOX_DIR }),
    config: Flags.string({ char: "c", description: "the configuration the gateway was set up with (default: the sandbox sample)" }),
  };

  protected async execute(): Promise<PersonasResult> {
    const { flags } = await this.parse(SandboxPersonas);
    const stateDir = path.resolve(flags["state-dir"]);
    const raw = flags.config ? await readConfigFile(path.resolve(flags.config)) : sandboxSampleConfig();
    // Only the gateway layout matters here; identity fields are the sandbox's own.
    const config = resolveConfig({ ...raw, subscriptionId: "00000000-0000-0000-0000-000000000000", tenantId: "00000000-0000-0000-0000-000000000000" });
    const [{ personas, agents: known }, endpoints] = await Promise.all([sandboxPersonas(), sandboxEndpoints(stateDir)]);
    // Where a setup of this configuration puts each agent (more than 100 go on in further APIs).
    const operationId = (agent: (typeof config.agents)[number]) => agent.operationId ?? agentSlug(agent.id);
    const placed = placeOperations(config.agents.map(operationId), new Map(), APIM_LIMITS[config.apim.sku].operationsPerApi);
    const agents = config.agents.map((agent) => ({
      id: agent.id,
      url: `${endpoints.gateway}/${config.apim.name}/${shardOf(config.gateway, placed.get(operationId(agent)) ?? 1).path}/${agentSlug(agent.id)}`,
      audienceGroupId: agent.audienceGroupId,
      riskLevel: known.find((k) => k.id === agent.id)?.riskLevel ?? null,
    }));
    return { status: "ok", exitCode: 0, running: endpoints.running, personas, agents };
  }

  protected text({ personas, agents, running }: PersonasResult): void {
    const width = Math.max(...personas.map((p) => p.name.length));
    process.stdout.write("Personas (expected answer from contoso-kb-assistant):\n");
    for (const p of personas) {
      const e = p.expected;
      process.stdout.write(`  ${p.name.padEnd(width)}  ${String(e.status)} ${e.denyReason}${e.anomaly ? " (anomaly)" : ""}  ${p.exercises}\n`);
    }
    process.stdout.write("\nAgents:\n");
    for (const a of agents) process.stdout.write(`  ${a.id}  POST ${a.url}\n`);
    if (!running) process.stdout.write("\n(The sandbox is not running: start it with `aeg sandbox start`; the URLs stay the same.)\n");
  }
}
