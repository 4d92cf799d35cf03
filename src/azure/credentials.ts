import { readFile } from "node:fs/promises";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential, DefaultAzureCredential } from "@azure/identity";
import { ConfigError } from "../errors.js";
import { isKnownCloud, type CloudProfile } from "./cloud.js";

export interface AuthSettings {
  /** Unset only before a tenant is known (aeg init signs in to list the caller's subscriptions). */
  tenantId: string | undefined;
  clientId?: string | undefined;
  clientSecretFile?: string | undefined;
}

/**
 * DefaultAzureCredential by default (environment, workload identity, managed identity, Azure CLI);
 * a service principal only when the configuration names a secret file. The secret is read here,
 * used in memory, and never logged or stored.
 */
export async function makeCredential(cloud: CloudProfile, auth: AuthSettings): Promise<TokenCredential> {
  // Only public clouds have instance discovery; a custom authority would fail it.
  const disableInstanceDiscovery = !isKnownCloud(cloud.name);
  if (auth.clientSecretFile) {
    if (!auth.clientId) throw new ConfigError(["auth.clientId: required when auth.clientSecretFile is set"]);
    if (!auth.tenantId) throw new ConfigError(["tenantId: required when auth.clientSecretFile is set"]);
    const secret = await readSecretFile(auth.clientSecretFile, "auth.clientSecretFile");
    return new ClientSecretCredential(auth.tenantId, auth.clientId, secret, {
      authorityHost: cloud.authority,
      disableInstanceDiscovery,
    });
  }
  return new DefaultAzureCredential({
    ...(auth.tenantId ? { tenantId: auth.tenantId } : {}),
    authorityHost: cloud.authority,
    disableInstanceDiscovery,
    ...(auth.clientId ? { managedIdentityClientId: auth.clientId, workloadIdentityClientId: auth.clientId } : {}),
  });
}

export async function readSecretFile(file: string, field: string): Promise<string> {
  try {
    const value = (await readFile(file, "utf8")).trim();
    if (!value) throw new ConfigError([`${field}: ${file} is empty`]);
    return value;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`${field}: cannot read ${file}`], "Check the path and its permissions.");
  }
}
