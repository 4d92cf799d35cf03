import path from "node:path";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../../app/base-command.js";
import { writeSandboxConfig } from "../../app/sandbox-config.js";
import { DEFAULT_SANDBOX_DIR, startSandbox } from "../../azure/sandbox.js";

export default class SandboxStart extends AegCommand<CommandResult & Record<string, unknown>> {
  static override summary = "Run the embedded local tenant as a server in the foreground";
  static override description = `Serves the sandbox's Entra, ARM, Graph, Dataverse and gateway endpoints over HTTPS on 127.0.0.1 until stopped (Ctrl+C).
Once it listens it prints one line of JSON on stdout: the base URLs, the CA file to trust, the tenant and subscription ids, an operator client id and secret, and "config", a ready aeg.yaml for this tenant:

  aeg setup --config <config>

Other clients use the same tenant: get a token with POST {authority}/{tenantId}/oauth2/v2.0/token (grant_type=client_credentials, scope={arm}/.default) and trust caFile (curl --cacert, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE).`;
  static override examples = [
    "<%= config.bin %> sandbox start",
    "<%= config.bin %> sandbox start --port 8443 --state-dir /tmp/tenant",
    "<%= config.bin %> sandbox start --latency azure --api-locks",
  ];

  static override flags = {
    port: Flags.integer({ description: "port of the ARM endpoint (default: a free one); the other endpoints take free ports", min: 0, max: 65535 }),
    "state-dir": Flags.string({ description: "where the tenant is kept", default: DEFAULT_SANDBOX_DIR }),
    "apim-activation-ms": Flags.integer({ description: "how long an APIM creation takes in the sandbox", min: 0, hidden: true }),
    latency: Flags.string({ description: "ARM's answer delays and operation durations: azure (published figures), none, or a JSON model file", default: "none" }),
    "api-locks": Flags.boolean({ description: "answer a write that overlaps another under the same API with APIM's 409 PessimisticConcurrencyConflict", default: false }),
    "api-lock-settle-ms": Flags.integer({ description: "with --api-locks: how long an API stays locked after its last write ended", min: 0, default: 0 }),
  };

  protected async execute(): Promise<CommandResult & Record<string, unknown>> {
    const { flags } = await this.parse(SandboxStart);
    const stateDir = path.resolve(flags["state-dir"]);
    const sandbox = await startSandbox({
      stateDir,
      ...(flags.port !== undefined ? { port: flags.port } : {}),
      ...(flags["apim-activation-ms"] !== undefined ? { apimActivationMs: flags["apim-activation-ms"] } : {}),
      latency: flags.latency,
      ...(flags["api-locks"] ? { apiLocks: { settleMs: flags["api-lock-settle-ms"] } } : {}),
    });
    const configFile = await writeSandboxConfig(sandbox, stateDir);
    const { close: _close, ...endpoints } = sandbox;
    // The server document: the envelope's fields first, the endpoints' keys at the top level as before.
    this.announce({ status: "listening", exitCode: 0, ...endpoints, config: configFile });
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await sandbox.close();
    return { status: "stopped", exitCode: 0 };
  }

  protected text(): void {}
}
