// Where an APIM Event Hub logger sends, and whether Azure would let it: a managed-identity logger
// needs the Azure Event Hubs Data Sender (or Data Owner) role on the hub, its namespace, resource
// group or subscription; without it the event is dropped, as the send fails in Azure.
import type { ApimService, TenantState } from "../store.js";
import type { EventStore } from "../eventhubs/store.js";
import { substituteNamedValues } from "./policy.js";

const DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";
const DATA_OWNER = "f526a384-b230-433a-b45c-95f59c4a2dec";

export interface LoggerTarget {
  namespace: string;
  hub: string;
  /** Present for identity loggers: the identity's client id or "SystemAssigned". */
  identityClientId?: string;
}

/** Resolves a logger id to its hub; throws when the logger does not exist (a policy error). */
export function resolveLogger(svc: ApimService, loggerId: string): LoggerTarget | { error: string } {
  const logger = svc.loggers[loggerId.toLowerCase()];
  if (!logger) throw new Error(`Logger '${loggerId}' not found.`);
  if (logger.properties["loggerType"] !== "azureEventHub") return { error: `Logger '${loggerId}' is not an Event Hub logger.` };
  const creds = (logger.properties["credentials"] ?? {}) as Record<string, unknown>;
  if (typeof creds["connectionString"] === "string") {
    const cs = substituteNamedValues(creds["connectionString"], svc);
    const parts = Object.fromEntries(cs.split(";").filter(Boolean).map((p) => [p.slice(0, p.indexOf("=")).toLowerCase(), p.slice(p.indexOf("=") + 1)]));
    const host = /^sb:\/\/([^/.]+)\./i.exec(parts["endpoint"] ?? "")?.[1];
    const hub = parts["entitypath"] ?? (typeof creds["name"] === "string" ? creds["name"] : undefined);
    if (!host || !hub) return { error: `Logger '${loggerId}' has an unusable connection string.` };
    return { namespace: host, hub };
  }
  const endpoint = typeof creds["endpointAddress"] === "string" ? creds["endpointAddress"] : "";
  const hub = typeof creds["name"] === "string" ? creds["name"] : "";
  return { namespace: endpoint.split(".")[0] ?? "", hub, identityClientId: String(creds["identityClientId"] ?? "SystemAssigned") };
}

/** Undefined when the send is allowed; otherwise why Azure would refuse it. */
export function canSendToHub(state: TenantState, events: EventStore, svc: ApimService, t: LoggerTarget): string | undefined {
  const ns = events.findNamespace(t.namespace);
  if (!ns || !ns.eventHubs[t.hub.toLowerCase()]) return `Event hub '${t.namespace}/${t.hub}' does not exist.`;
  if (t.identityClientId === undefined) return undefined; // SAS connection string: the key authorizes
  const principalId =
    t.identityClientId.toLowerCase() === "systemassigned"
      ? svc.identity?.principalId
      : Object.values(state.principals).find((p) => p.appId.toLowerCase() === t.identityClientId!.toLowerCase())?.objectId;
  if (!principalId) return `The logger's identity '${t.identityClientId}' does not exist.`;
  const hubId = `/subscriptions/${state.subscriptionId}/resourceGroups/${ns.resourceGroup}/providers/Microsoft.EventHub/namespaces/${ns.name}/eventhubs/${t.hub}`.toLowerCase();
  const allowed = Object.values(state.roleAssignments).some((a) => {
    if (a.principalId.toLowerCase() !== principalId.toLowerCase()) return false;
    if (![DATA_SENDER, DATA_OWNER].includes(a.roleDefinitionGuid.toLowerCase())) return false;
    const scope = a.scope.replace(/\/+$/, "").toLowerCase();
    return hubId === scope || hubId.startsWith(`${scope}/`);
  });
  return allowed ? undefined : `Principal '${principalId}' has no Azure Event Hubs Data Sender role on '${hubId}'.`;
}
