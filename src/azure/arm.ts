import { ApiManagementClient } from "@azure/arm-apimanagement";
import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { EventHubManagementClient } from "@azure/arm-eventhub";
import { ResourceManagementClient } from "@azure/arm-resources";
import type { TokenCredential } from "@azure/core-auth";
import { createPipelineRequest, RestError, type PipelinePolicy } from "@azure/core-rest-pipeline";
import { armScope, type CloudProfile } from "./cloud.js";
import { transientRetryPolicy, type TransientOptions } from "./transient.js";

/** Counts the ARM requests a run sends, so "a no-op re-run makes zero writes" is observable. */
export class RequestCounter {
  reads = 0;
  writes = 0;
  readonly policy: PipelinePolicy = {
    name: "aegRequestCounter",
    sendRequest: (request, next) => {
      if (request.method === "GET" || request.method === "HEAD") this.reads++;
      else if (request.method === "POST" && /\/list[A-Za-z]*$/.test(new URL(request.url).pathname)) this.reads++;
      else this.writes++;
      return next(request);
    },
  };
}

export interface ArmClients {
  apim: ApiManagementClient;
  eventHub: EventHubManagementClient;
  authorization: AuthorizationManagementClient;
  resources: ResourceManagementClient;
  counter: RequestCounter;
}

export interface SubscriptionSummary {
  subscriptionId: string;
  displayName: string;
  tenantId: string;
  state: string;
}

/**
 * The subscriptions the credential can see (Subscriptions_List). Sent through the APIM client's
 * pipeline, which already carries ARM's endpoint, token and request counter.
 */
export async function listSubscriptions(clients: ArmClients, cloud: CloudProfile): Promise<SubscriptionSummary[]> {
  const found: SubscriptionSummary[] = [];
  let url: string | undefined = `${cloud.resourceManager}/subscriptions?api-version=${SUBSCRIPTIONS_API_VERSION}`;
  while (url) {
    const response = await clients.apim.sendRequest(createPipelineRequest({ url, method: "GET" }));
    const body = response.bodyAsText ? (JSON.parse(response.bodyAsText) as { value?: SubscriptionSummary[]; nextLink?: string; error?: { code?: string; message?: string } }) : {};
    if (response.status !== 200) throw new RestError(body.error?.message ?? `listing subscriptions answered ${response.status}`, { statusCode: response.status, code: body.error?.code, response });
    found.push(...(body.value ?? []));
    url = body.nextLink;
  }
  return found;
}

const SUBSCRIPTIONS_API_VERSION = "2022-12-01";

/** `transient`: how APIM's and ARM's "not now" answers are retried (see transient.ts). */
export function armClients(cloud: CloudProfile, credential: TokenCredential, subscriptionId: string, opts: { transient: TransientOptions }): ArmClients {
  const counter = new RequestCounter();
  const scopes = [armScope(cloud)];
  // The counter first: it counts a request once, however often it is retried.
  const perCall = [
    { policy: counter.policy, position: "perCall" as const },
    { policy: transientRetryPolicy(opts.transient), position: "perCall" as const },
  ];
  const classic = { endpoint: cloud.resourceManager, credentialScopes: scopes, additionalPolicies: perCall };
  const modular = { endpoint: cloud.resourceManager, credentials: { scopes }, additionalPolicies: perCall };
  return {
    apim: new ApiManagementClient(credential, subscriptionId, classic),
    eventHub: new EventHubManagementClient(credential, subscriptionId, modular),
    authorization: new AuthorizationManagementClient(credential, subscriptionId, classic),
    resources: new ResourceManagementClient(credential, subscriptionId, modular),
    counter,
  };
}
