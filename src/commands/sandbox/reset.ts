import path from "node:path";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../../app/base-command.js";
import { DEFAULT_SANDBOX_DIR, resetSandbox } from "../../azure/sandbox.js";

export default class SandboxReset extends AegCommand<CommandResult & { stateDir: string }> {
  static override summary = "Clear the sandbox tenant: every resource, identity and key it holds";
  static override flags = {
    "state-dir": Flags.string({ description: "where the tenant is kept", default: DEFAULT_SANDBOX_DIR }),
  };

  protected async execute(): Promise<CommandResult & { stateDir: string }> {
    const { flags } = await this.parse(SandboxReset);
    const stateDir = path.resolve(flags["state-dir"]);
    await resetSandbox(stateDir);
    return { status: "cleared", exitCode: 0, stateDir };
  }

  protected text({ stateDir }: { stateDir: string }): void {
    process.stderr.write(`Sandbox tenant in ${stateDir} cleared.\n`);
  }
}
