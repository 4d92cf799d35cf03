import { Flags } from "@oclif/core";

/** Flags every command that talks to an environment takes. */
export const environmentFlags = {
  config: Flags.string({ char: "c", description: "configuration file (default: ./aeg.yaml, or ./aeg.<env>.yaml with --env)" }),
  env: Flags.string({ char: "e", description: "environment name: reads aeg.<env>.yaml and keeps its own resume journal" }),
  sandbox: Flags.boolean({ description: "run against the embedded local tenant instead of Azure (no Azure needed)" }),
  "sandbox-dir": Flags.string({ description: "where the sandbox keeps its tenant (default: .aeg/sandbox)", dependsOn: ["sandbox"] }),
  subscription: Flags.string({ description: "Azure subscription id (overrides subscriptionId)", env: undefined }),
  tenant: Flags.string({ description: "Entra tenant id (overrides tenantId)" }),
  "client-id": Flags.string({ description: "client id of the service principal or managed identity to sign in with" }),
  "resource-group": Flags.string({ description: "resource group (overrides resourceGroup)" }),
  location: Flags.string({ description: "Azure region (overrides location)" }),
  ci: Flags.boolean({ description: "pipeline mode: never prompt (a missing value exits 2), plain log lines on stderr" }),
};
