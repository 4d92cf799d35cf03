import type { TokenCredential } from "@azure/core-auth";
import { RequestCounter } from "./arm.js";
import type { CloudProfile } from "./cloud.js";
import { DataverseClient } from "./dataverse.js";
import { GraphClient } from "./graph.js";

/** Dataverse (one client per environment URL) and Graph, sharing one request counter each. */
export interface IdentityServices {
  credential: TokenCredential;
  graph: GraphClient;
  dataverse(environmentUrl: string): DataverseClient;
  counters: { dataverse: RequestCounter; graph: RequestCounter };
}

export function identityServices(cloud: CloudProfile, credential: TokenCredential): IdentityServices {
  const counters = { dataverse: new RequestCounter(), graph: new RequestCounter() };
  const environments = new Map<string, DataverseClient>();
  return {
    credential,
    graph: new GraphClient(cloud, credential, counters.graph),
    counters,
    dataverse(url) {
      const key = url.replace(/\/+$/, "").toLowerCase();
      let client = environments.get(key);
      if (!client) environments.set(key, (client = new DataverseClient(url, credential, counters.dataverse)));
      return client;
    },
  };
}
