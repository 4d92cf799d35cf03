/**
 * Where each Azure service lives. Nothing in aeg is wired to management.azure.com: every client
 * takes its endpoint and token audience from the profile of the configured cloud.
 */
import type { CloudName } from "../config/schema.js";

export interface CloudProfile {
  name: CloudName;
  /** aeg's embedded local tenant: personas, Mono-run policies, quick polling. */
  sandbox: boolean;
  resourceManager: string;
  /** Audience of ARM tokens; scopes are `${audience}.default`. */
  resourceManagerAudience: string;
  authority: string;
  graph: string;
  /** Audience of Graph tokens (the resource a managed identity asks for). */
  graphAudience: string;
  /** Host part of v1 token issuers: `${v1IssuerHost}/${tenantId}/`. */
  v1IssuerHost: string;
  /** DNS suffix of Event Hubs namespaces: `<namespace>.<serviceBusSuffix>`. */
  serviceBusSuffix: string;
  /** Extra CA certificates to trust (PEM file): the sandbox's, or a TLS-inspecting proxy's. */
  caFile?: string;
  /** Where Event Hubs clients connect when not to the namespace's own host (the sandbox, a private endpoint). */
  eventHubsEndpoint?: string;
}

const PUBLIC: CloudProfile = {
  name: "AzureCloud",
  sandbox: false,
  resourceManager: "https://management.azure.com",
  resourceManagerAudience: "https://management.azure.com/",
  authority: "https://login.microsoftonline.com",
  graph: "https://graph.microsoft.com",
  graphAudience: "https://graph.microsoft.com",
  v1IssuerHost: "https://sts.windows.net",
  serviceBusSuffix: "servicebus.windows.net",
};

const KNOWN: Partial<Record<CloudName, CloudProfile>> = {
  AzureCloud: PUBLIC,
  AzureUSGovernment: {
    name: "AzureUSGovernment",
    sandbox: false,
    resourceManager: "https://management.usgovcloudapi.net",
    resourceManagerAudience: "https://management.usgovcloudapi.net/",
    authority: "https://login.microsoftonline.us",
    graph: "https://graph.microsoft.us",
    graphAudience: "https://graph.microsoft.us",
    v1IssuerHost: "https://sts.windows.net",
    serviceBusSuffix: "servicebus.usgovcloudapi.net",
  },
  AzureChinaCloud: {
    name: "AzureChinaCloud",
    sandbox: false,
    resourceManager: "https://management.chinacloudapi.cn",
    resourceManagerAudience: "https://management.chinacloudapi.cn/",
    authority: "https://login.chinacloudapi.cn",
    graph: "https://microsoftgraph.chinacloudapi.cn",
    graphAudience: "https://microsoftgraph.chinacloudapi.cn",
    v1IssuerHost: "https://sts.chinacloudapi.cn",
    serviceBusSuffix: "servicebus.chinacloudapi.cn",
  },
};

/** One of Azure's own clouds (not custom, not the sandbox). */
export function isKnownCloud(name: string): boolean {
  return Object.hasOwn(KNOWN, name);
}

export interface CloudSettings {
  name: CloudName;
  resourceManager?: string | undefined;
  authority?: string | undefined;
  graph?: string | undefined;
  resourceManagerAudience?: string | undefined;
  caFile?: string | undefined;
  eventHubsEndpoint?: string | undefined;
}

export function cloudProfile(settings: CloudSettings): CloudProfile {
  const base = KNOWN[settings.name] ?? PUBLIC;
  const trim = (u: string) => u.replace(/\/+$/, "");
  return {
    name: settings.name,
    sandbox: settings.name === "sandbox",
    resourceManager: trim(settings.resourceManager ?? base.resourceManager),
    // A custom cloud (and the sandbox) still issues ARM tokens for the public audience unless told otherwise.
    resourceManagerAudience: settings.resourceManagerAudience ?? base.resourceManagerAudience,
    authority: trim(settings.authority ?? base.authority),
    graph: trim(settings.graph ?? base.graph),
    // A custom cloud (and the sandbox) keeps the public Graph audience and v1 issuer, as its tokens do.
    graphAudience: base.graphAudience,
    v1IssuerHost: base.v1IssuerHost,
    serviceBusSuffix: base.serviceBusSuffix,
    ...(settings.caFile ? { caFile: settings.caFile } : {}),
    ...(settings.eventHubsEndpoint ? { eventHubsEndpoint: settings.eventHubsEndpoint } : {}),
  };
}

export function armScope(cloud: CloudProfile): string {
  return `${cloud.resourceManagerAudience.replace(/\/?$/, "/")}.default`;
}

/** The OpenID configuration documents and token issuers of a tenant in this cloud. */
export function tenantEndpoints(cloud: CloudProfile, tenantId: string) {
  return {
    openIdConfigV1: `${cloud.authority}/${tenantId}/.well-known/openid-configuration`,
    openIdConfigV2: `${cloud.authority}/${tenantId}/v2.0/.well-known/openid-configuration`,
    issuerV1: `${cloud.v1IssuerHost}/${tenantId}/`,
    issuerV2: `${cloud.authority}/${tenantId}/v2.0`,
  };
}
