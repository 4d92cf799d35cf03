import path from "node:path";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSecretCredential } from "@azure/identity";
import { transientOptionsFor } from "../azure/transient.js";
import { armClients, listSubscriptions, type SubscriptionSummary } from "../azure/arm.js";
import { cloudProfile, type CloudProfile } from "../azure/cloud.js";
import { makeCredential } from "../azure/credentials.js";
import type { DirectoryGroup } from "../azure/graph.js";
import { identityServices, type IdentityServices } from "../azure/identity-services.js";
import { DEFAULT_SANDBOX_DIR, startSandbox, type RunningSandbox } from "../azure/sandbox.js";
import { trustCaFile } from "../azure/trust.js";

export interface ExistingService {
  name: string;
  sku: string;
  location: string;
  publisherName: string;
  publisherEmail: string;
}

/**
 * What interactive init asks the tenant, through the same SDK clients and credential chain as
 * setup: subscriptions, resource groups and APIM instances (ARM), groups (Graph), WhoAmI
 * (Dataverse). Against the sandbox, the sandbox answers; against Azure, Azure does.
 */
export interface Discovery {
  cloud: CloudProfile;
  sandbox?: RunningSandbox;
  subscriptions(): Promise<SubscriptionSummary[]>;
  resourceGroups(subscriptionId: string): Promise<Array<{ name: string; location: string }>>;
  apimServices(subscriptionId: string, resourceGroup: string): Promise<ExistingService[]>;
  searchGroups(text: string): Promise<DirectoryGroup[]>;
  whoAmI(environmentUrl: string): Promise<{ UserId: string }>;
  close(): Promise<void>;
}

export async function openDiscovery(opts: { sandbox: boolean; sandboxDir?: string | undefined; tenantId?: string | undefined; clientId?: string | undefined; cwd: string }): Promise<Discovery> {
  let sandbox: RunningSandbox | undefined;
  let cloud: CloudProfile;
  let credential: TokenCredential;
  if (opts.sandbox) {
    sandbox = await startSandbox({ stateDir: path.resolve(opts.cwd, opts.sandboxDir ?? DEFAULT_SANDBOX_DIR) });
    cloud = cloudProfile({ name: "sandbox", resourceManager: sandbox.arm, authority: sandbox.authority, graph: sandbox.graph, caFile: sandbox.caFile, eventHubsEndpoint: sandbox.eventHubs });
    trustCaFile(sandbox.caFile);
    credential = new ClientSecretCredential(sandbox.tenantId, sandbox.clientId, sandbox.clientSecret, { authorityHost: sandbox.authority, disableInstanceDiscovery: true });
  } else {
    cloud = cloudProfile({ name: "AzureCloud" });
    credential = await makeCredential(cloud, { tenantId: opts.tenantId, clientId: opts.clientId });
  }
  const identity: IdentityServices = identityServices(cloud, credential);
  // init only reads: the retry of refused writes is the same as a run against this cloud would use.
  const arm = (subscriptionId: string) => armClients(cloud, credential, subscriptionId, { transient: transientOptionsFor(cloud.sandbox ? 500 : 20_000) });
  return {
    cloud,
    ...(sandbox ? { sandbox } : {}),
    subscriptions: () => listSubscriptions(arm(""), cloud),
    async resourceGroups(subscriptionId) {
      const found: Array<{ name: string; location: string }> = [];
      for await (const g of arm(subscriptionId).resources.resourceGroups.list()) if (g.name) found.push({ name: g.name, location: g.location });
      return found;
    },
    async apimServices(subscriptionId, resourceGroup) {
      const found: ExistingService[] = [];
      for await (const s of arm(subscriptionId).apim.apiManagementService.listByResourceGroup(resourceGroup)) {
        if (s.name) found.push({ name: s.name, sku: s.sku.name, location: s.location, publisherName: s.publisherName, publisherEmail: s.publisherEmail });
      }
      return found;
    },
    searchGroups: (text) => identity.graph.searchGroups(text),
    whoAmI: (url) => identity.dataverse(url).whoAmI(),
    close: async () => {
      await sandbox?.close();
    },
  };
}
