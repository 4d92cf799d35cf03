import { existsSync } from "node:fs";
import path from "node:path";
import { Flags } from "@oclif/core";
import writeFileAtomic from "write-file-atomic";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { environmentFlags } from "../app/flags.js";
import { explainAzureError } from "../azure/errors.js";
import type { RunningSandbox } from "../azure/sandbox.js";
import { configPath, formatPath, resolveConfig } from "../config/load.js";
import { sandboxSampleConfig } from "../config/sandbox-sample.js";
import { ConfigError, ExitCode, UserError } from "../errors.js";
import { askForConfiguration } from "../init/ask.js";
import { openDiscovery, type Discovery } from "../init/discovery.js";
import { configDocument } from "../init/document.js";
import { INIT_SOURCES, initDefaults } from "../init/fields.js";
import { givenValues, missingUnderCi, withGiven } from "../init/values.js";

interface InitResult extends CommandResult {
  /** The file written (absent when nothing was). */
  file?: string;
  sandbox: boolean;
  interactive: boolean;
  apim?: string;
  agents?: string[];
}

/** One flag per value init can take ahead of the questions; the AEG_* variable is read too. */
const sourceFlags = Object.fromEntries(
  INIT_SOURCES.filter((s) => !(s.flag in environmentFlags)).map((s) => {
    const options = { description: `${s.description} (or ${s.env})`, helpGroup: "VALUES" };
    return [s.flag, s.kind ? Flags.string({ ...options, multiple: true }) : Flags.string(options)];
  }),
);

export default class Init extends AegCommand<InitResult> {
  static override summary = "Write aeg.yaml: asked in a terminal, from flags and AEG_* variables with --ci";
  static override description = `In a terminal, signs in with the same credential chain as setup and asks: the subscription (listed), the resource group and APIM instance (listed: reuse one or name a new one), each agent and its audience group (found by name through Microsoft Graph, or pasted as an object id), and the Dataverse environment URL (checked with WhoAmI). Every answer is checked by the same schema as setup. Ctrl+C writes nothing.

--ci never asks: values come from flags and AEG_* variables; a missing one exits 2 naming both.
--sandbox writes a ready configuration for the local sandbox tenant (nothing to answer under --ci).
An existing file is never overwritten without --force (exit 2). Every field is written with a comment.

Exit codes: 0 written, 1 unexpected error, 2 usage or a missing or invalid value, 3 authentication, 130 cancelled.`;
  static override examples = ["<%= config.bin %> init", "<%= config.bin %> init --sandbox --ci", "<%= config.bin %> init --ci --subscription … --tenant … --agent kb=<group id> …"];

  static override flags = {
    config: environmentFlags.config,
    env: environmentFlags.env,
    sandbox: environmentFlags.sandbox,
    "sandbox-dir": environmentFlags["sandbox-dir"],
    ci: Flags.boolean({ description: "never ask: values come from flags and AEG_* variables (a missing one exits 2)" }),
    force: Flags.boolean({ description: "overwrite an existing configuration file" }),
    subscription: environmentFlags.subscription,
    tenant: environmentFlags.tenant,
    "client-id": environmentFlags["client-id"],
    "resource-group": environmentFlags["resource-group"],
    location: environmentFlags.location,
    ...sourceFlags,
  };

  protected async execute(): Promise<InitResult> {
    const { flags } = await this.parse(Init);
    const cwd = process.cwd();
    const file = configPath(cwd, flags);
    const shown = path.relative(cwd, file) || file;
    const refuseOverwrite = () => {
      if (existsSync(file) && !flags.force) throw new UserError(`${shown} exists: aeg init does not overwrite a configuration`, ExitCode.usage, "Pass --force to replace it, or --config FILE to write another file.");
    };
    refuseOverwrite();
    const sandbox = Boolean(flags.sandbox);
    // The sandbox is its own tenant: its ids win over any given, as in setup --sandbox.
    const given = givenValues(flags, process.env).filter((o) => !sandbox || !["subscriptionId", "tenantId"].includes(formatPath(o.path)));
    const interactive = !flags.ci && !flags.json && Boolean(process.stdin.isTTY && process.stderr.isTTY);
    if (!interactive && !sandbox) {
      const missing = missingUnderCi(initDefaults(), given);
      if (missing.length > 0) throw new ConfigError(missing, "Pass them as flags or AEG_* variables, or run aeg init in a terminal to be asked.");
    }
    let discovery: Discovery | undefined;
    try {
      if (interactive || sandbox) discovery = await openDiscovery({ sandbox, sandboxDir: flags["sandbox-dir"], tenantId: flags.tenant, clientId: flags["client-id"], cwd });
      let raw = withGiven(sandbox ? sandboxDefaults(discovery!.sandbox!) : initDefaults(), given);
      let notes: Record<string, string> = {};
      if (interactive) ({ raw, notes } = await askForConfiguration(discovery!, raw, new Set(given.map((o) => formatPath(o.path)))));
      const config = resolveConfig(raw, given);
      refuseOverwrite(); // again: a person may have taken a while to answer
      await writeFileAtomic(file, configDocument(config, { header: header(sandbox), notes }), { mode: 0o644 });
      return { status: "written", exitCode: ExitCode.ok, file, sandbox, interactive, apim: config.apim.name, agents: config.agents.map((a) => a.id) };
    } catch (err) {
      if (err instanceof Error && err.name === "ExitPromptError") {
        process.stderr.write("\nCancelled: nothing was written.\n");
        return { status: "cancelled", exitCode: 130, sandbox, interactive };
      }
      // A sign-in or a listing Azure refused is exit 3 naming what is needed, as in setup.
      throw explainAzureError(err, "init", "Reader on the subscription and resource groups it lists (and a Graph permission to read groups, for the group search)");
    } finally {
      await discovery?.close();
    }
  }

  protected text(result: InitResult): void {
    if (!result.file) return;
    const where = path.relative(process.cwd(), result.file) || result.file;
    const next = result.sandbox ? "aeg setup --sandbox" : "aeg setup --dry-run";
    process.stderr.write(`Wrote ${where}: APIM instance ${result.apim}, ${result.agents!.length} agent${result.agents!.length === 1 ? "" : "s"}. Next: \`${next}${where === "aeg.yaml" ? "" : ` --config ${where}`}\`.\n`);
  }
}

/** The sandbox sample, in the running sandbox's own tenant and with its Dataverse; the namespace follows the instance's name. */
function sandboxDefaults(sandbox: RunningSandbox): Record<string, unknown> {
  const sample = sandboxSampleConfig();
  const { namespace: _named, ...telemetry } = sample["telemetry"] as Record<string, unknown>;
  return { ...sample, subscriptionId: sandbox.subscriptionId, tenantId: sandbox.tenantId, telemetry, dataverse: { ...(sample["dataverse"] as object), url: sandbox.dataverse } };
}

function header(sandbox: boolean): string[] {
  const date = new Date().toISOString().slice(0, 10);
  return sandbox
    ? [`aeg configuration for the local sandbox tenant, written by \`aeg init --sandbox\` on ${date}.`, "Use it with --sandbox: the sandbox supplies the subscription, tenant, endpoints and credentials."]
    : [`aeg configuration, written by \`aeg init\` on ${date}; every field is explained beside it.`, "Check it with `aeg setup --dry-run`. The README's Configuration section has the rest (validation, templatesDir)."];
}

