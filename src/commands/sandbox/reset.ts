import path from "node:path";
import { Flags } from "@oclif/core";
import { AegCommand } from "../../app/base-command.js";
import { DEFAULT_SANDBOX_DIR, resetSandbox } from "../../azure/sandbox.js";

export default class SandboxReset extends AegCommand {
  static override summary = "Clear the sandbox tenant: every resource, identity and key it holds";
  static override flags = {
    "state-dir": Flags.string({ description: "where the tenant is kept", default: DEFAULT_SANDBOX_DIR }),
  };

  protected async execute(): Promise<number> {
    const { flags } = await this.parse(SandboxReset);
    const dir = path.resolve(flags["state-dir"]);
    await resetSandbox(dir);
    process.stderr.write(`Sandbox tenant in ${dir} cleared.\n`);
    return 0;
  }
}
