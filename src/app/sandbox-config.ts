import { writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import type { SandboxEndpoints } from "../azure/sandbox.js";
import { sandboxSampleConfig } from "../config/sandbox-sample.js";

/**
 * Writes a ready-to-use aeg.yaml for a running sandbox into its state directory, with the operator
 * secret in a file beside it (aeg.yaml names files, never secrets). Returns the config's path.
 */
export async function writeSandboxConfig(sandbox: SandboxEndpoints, stateDir: string): Promise<string> {
  const secretFile = path.join(stateDir, "operator.secret");
  await writeFile(secretFile, `${sandbox.clientSecret}\n`, { mode: 0o600 });
  const configFile = path.join(stateDir, "aeg.yaml");
  const config = {
    ...sandboxSampleConfig(),
    subscriptionId: sandbox.subscriptionId,
    tenantId: sandbox.tenantId,
    cloud: { name: "sandbox", resourceManager: sandbox.arm, authority: sandbox.authority, graph: sandbox.graph, caFile: sandbox.caFile, eventHubsEndpoint: sandbox.eventHubs },
    auth: { clientId: sandbox.clientId, clientSecretFile: secretFile },
    // The governance store the sandbox gateway reads is the sandbox's own Dataverse.
    dataverse: { url: sandbox.dataverse },
  };
  await writeFile(configFile, `# The sandbox tenant served by \`aeg sandbox start\`; valid while it runs.\n${stringify(config)}`);
  return configFile;
}
