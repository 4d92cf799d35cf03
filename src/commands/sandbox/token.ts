import path from "node:path";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../../app/base-command.js";
import { DEFAULT_SANDBOX_DIR, sandboxPersonaToken, sandboxPersonas } from "../../azure/sandbox.js";
import { sandboxSampleConfig } from "../../config/sandbox-sample.js";
import { ExitCode, UserError } from "../../errors.js";

const SAMPLE_AUDIENCES = (sandboxSampleConfig().gateway as { audiences: string[] }).audiences;

interface TokenResult extends CommandResult {
  persona: string;
  version: "v1" | "v2";
  audience: string;
  /** What the command is for: a test persona's token from the local sandbox tenant, never a real one. */
  token: string;
}

export default class SandboxToken extends AegCommand<TokenResult> {
  static override summary = "Print an access token from the sandbox Entra for a test persona";
  static override description = `The token is what Entra would issue to that user for the gateway's API: v1 by default (the default for a new API registration), v2 with --v2. See \`aeg sandbox personas\` for the names.`;
  static override examples = ["<%= config.bin %> sandbox token --persona alice", "<%= config.bin %> sandbox token --persona pat --v2"];

  static override flags = {
    persona: Flags.string({ char: "p", description: "persona name (see `aeg sandbox personas`)", required: true }),
    audience: Flags.string({ description: `token audience (default: ${SAMPLE_AUDIENCES[0]} for v1, the API's client id for v2)` }),
    v1: Flags.boolean({ description: "a v1 token (sts.windows.net issuer, upn claim)", exclusive: ["v2"] }),
    v2: Flags.boolean({ description: "a v2 token (login.microsoftonline.com-style issuer, preferred_username)", exclusive: ["v1"] }),
    "state-dir": Flags.string({ description: "where the sandbox keeps its tenant", default: DEFAULT_SANDBOX_DIR }),
  };

  protected async execute(): Promise<TokenResult> {
    const { flags } = await this.parse(SandboxToken);
    const { personas } = await sandboxPersonas();
    if (!personas.some((p) => p.name === flags.persona)) {
      throw new UserError(`--persona: no persona '${flags.persona}'`, ExitCode.usage, `Known personas: ${personas.map((p) => p.name).join(", ")}.`);
    }
    const version = flags.v2 ? "v2" : "v1";
    // v2 access tokens always carry the API's client id as audience; v1 the App ID URI asked for.
    const audience = flags.audience ?? (version === "v2" ? SAMPLE_AUDIENCES[1]! : SAMPLE_AUDIENCES[0]!);
    const token = await sandboxPersonaToken(path.resolve(flags["state-dir"]), { persona: flags.persona, audience, version });
    return { status: "ok", exitCode: 0, persona: flags.persona, version, audience, token };
  }

  protected text({ token }: TokenResult): void {
    process.stdout.write(`${token}\n`);
  }
}
