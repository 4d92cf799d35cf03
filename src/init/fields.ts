/**
 * What `aeg init` writes, where each value may come from, and the comment it carries. The rules
 * and the schema's own defaults stay in config/schema.ts: a written file is resolved by it.
 */

/** A value init takes from a flag or an AEG_* variable (the flag wins). */
export interface InitSource {
  path: string[];
  flag: string;
  env: string;
  /** What the flag's value is, for --help. */
  description: string;
  /** `list`: the flag repeats and the variable is comma-separated; `agents`: each is `id=audienceGroupId`. */
  kind?: "list" | "agents";
  /** Needed, with no default: under --ci a missing one exits 2 naming the flag and the variable. */
  required?: boolean;
}

export const INIT_SOURCES: readonly InitSource[] = [
  { path: ["subscriptionId"], flag: "subscription", env: "AEG_SUBSCRIPTION_ID", description: "Azure subscription id", required: true },
  { path: ["tenantId"], flag: "tenant", env: "AEG_TENANT_ID", description: "Entra tenant id", required: true },
  { path: ["resourceGroup"], flag: "resource-group", env: "AEG_RESOURCE_GROUP", description: "resource group", required: true },
  { path: ["location"], flag: "location", env: "AEG_LOCATION", description: "Azure region", required: true },
  { path: ["auth", "clientId"], flag: "client-id", env: "AEG_CLIENT_ID", description: "client id to sign in with" },
  { path: ["apim", "name"], flag: "apim-name", env: "AEG_APIM_NAME", description: "APIM instance name", required: true },
  { path: ["apim", "sku"], flag: "apim-sku", env: "AEG_APIM_SKU", description: "APIM tier (default Developer)" },
  { path: ["apim", "publisherName"], flag: "publisher-name", env: "AEG_PUBLISHER_NAME", description: "APIM publisher name", required: true },
  { path: ["apim", "publisherEmail"], flag: "publisher-email", env: "AEG_PUBLISHER_EMAIL", description: "APIM publisher email", required: true },
  { path: ["gateway", "audiences"], flag: "audience", env: "AEG_AUDIENCES", description: "accepted token audience (App ID URI or client id); repeat for two", kind: "list", required: true },
  { path: ["gateway", "backendUrl"], flag: "backend-url", env: "AEG_BACKEND_URL", description: "where allowed requests go", required: true },
  { path: ["gateway", "apiPath"], flag: "api-path", env: "AEG_API_PATH", description: "the API's URL suffix (default agents)" },
  { path: ["gateway", "channel"], flag: "channel", env: "AEG_CHANNEL", description: "custom-web (default) or direct-line" },
  { path: ["gateway", "policyVersion"], flag: "policy-version", env: "AEG_POLICY_VERSION", description: "policy version stamped on records (default: today, YYYY.MM.DD)" },
  { path: ["agents"], flag: "agent", env: "AEG_AGENTS", description: "an agent as id=audienceGroupId; repeat for more", kind: "agents", required: true },
  { path: ["telemetry", "namespace"], flag: "eventhub-namespace", env: "AEG_EVENTHUB_NAMESPACE", description: "Event Hubs namespace (default: ehns-<APIM name>)" },
  { path: ["telemetry", "eventHub"], flag: "eventhub", env: "AEG_EVENTHUB", description: "Event Hub name (default aeg-decisions)" },
  { path: ["dataverse", "url"], flag: "dataverse-url", env: "AEG_DATAVERSE_URL", description: "Dataverse environment URL of the governance store", required: true },
];

/** init's own defaults, for fields the schema requires without one. */
export function initDefaults(today = new Date()): Record<string, unknown> {
  return {
    gateway: { policyVersion: today.toISOString().slice(0, 10).replaceAll("-", "."), channel: "custom-web", apiPath: "agents" },
    telemetry: { eventHub: "aeg-decisions" },
  };
}

/** The namespace named after the instance, when none is given: both are globally unique names. */
export function defaultNamespace(apimName: string): string {
  return `ehns-${apimName}`.slice(0, 50).replace(/-+$/, "");
}

/** The comment each written field carries (`agents[]` stands for every agent). */
export const FIELD_COMMENTS: Readonly<Record<string, string>> = {
  subscriptionId: "Azure subscription that holds the gateway",
  tenantId: "Entra tenant: the gateway accepts tokens from this tenant only",
  resourceGroup: "resource group of the APIM instance and the Event Hub (created if missing; teardown keeps it)",
  location: "Azure region for what aeg creates",
  auth: "who aeg signs in as (default: DefaultAzureCredential)",
  "auth.clientId": "app (client) id of a service principal or user-assigned identity",
  apim: "the API Management instance (created, or reused with its identity enabled)",
  "apim.name": "globally unique: 1-50 letters, digits and hyphens",
  "apim.sku": "Developer | Basic | Standard | Premium | Consumption | BasicV2 | StandardV2 | PremiumV2",
  "apim.capacity": "units of the tier",
  "apim.publisherName": "shown in the developer portal and in APIM's e-mails",
  "apim.publisherEmail": "where APIM sends its notifications",
  gateway: "the API in front of the agents and what its policy decides",
  "gateway.audiences": "accepted token audiences: the gateway app's App ID URI and/or client id",
  "gateway.policyVersion": "stamped on every decision record",
  "gateway.channel": "custom-web | direct-line",
  "gateway.apiId": "the API's id in APIM",
  "gateway.apiDisplayName": "the API's name in the portal",
  "gateway.apiPath": "the API's URL suffix on the gateway",
  "gateway.backendUrl": "where allowed requests are forwarded",
  "gateway.unknownPathway": "allow-anomaly (the seed's default) | deny",
  "gateway.storeTimeoutSeconds": "how long the policy waits for the governance store or Graph before a 503",
  agents: "one API operation each: POST /{apiPath}/{slug}",
  "agents[].id": "the agent's id, as the governance store names it",
  "agents[].audienceGroupId": "Entra group whose members may use the agent",
  "agents[].operationId": "the API operation bound to this agent",
  "agents[].schemaName": "Copilot Studio schema name, for aeg agents check",
  "agents[].environmentUrl": "the Dataverse environment holding the agent's bot",
  telemetry: "decision records go to this Event Hub",
  "telemetry.namespace": "Event Hubs namespace: globally unique, 6-50 characters",
  "telemetry.eventHub": "the hub that receives one record per decision",
  "telemetry.sku": "Basic | Standard | Premium",
  "telemetry.partitionCount": "cannot change once the hub exists",
  "telemetry.messageRetentionInDays": "how long the hub keeps records",
  "telemetry.loggerId": "the APIM logger that writes to the hub",
  "telemetry.sinkConsumerGroup": "the consumer group setup creates for aeg sink (default aeg-sink; $Default on Basic)",
  dataverse: "the governance store: a Power Platform environment",
  "dataverse.url": "environment URL, e.g. https://org.crm.dynamics.com",
  "dataverse.roleName": "the least-privilege role setup gives the gateway identity",
  "dataverse.decisionLog": "the fsi_aegdecisionlog table aeg sink writes",
  "dataverse.decisionLog.enabled": "create the table and grant the gateway Create on it",
  graphFallback: "the groups-overage fallback through Microsoft Graph",
  "graphFallback.enabled": "grants the gateway identity GroupMember.Read.All and User.Read.All",
};
