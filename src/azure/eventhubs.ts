import type { Config } from "../config/schema.js";
import type { CloudProfile } from "./cloud.js";

/** Where aeg's Event Hubs clients (validation, the sink) reach the decision hub. */
export interface EventHubAddress {
  fullyQualifiedNamespace: string;
  eventHub: string;
  /** Set when clients connect elsewhere than the namespace's host (the sandbox, a private endpoint). */
  customEndpointAddress?: string;
}

export function eventHubAddress(config: Config, cloud: CloudProfile): EventHubAddress {
  const custom = cloud.eventHubsEndpoint;
  // The sandbox's endpoint is an IP address, and Node warns (DEP0123) when TLS is given one as
  // server name. The warning means nothing to a user of aeg, so it is silenced for that case only.
  if (custom && /^[a-z]+:\/\/\d+\.\d+\.\d+\.\d+/.test(custom)) process.noDeprecation = true;
  return {
    fullyQualifiedNamespace: `${config.telemetry.namespace}.${cloud.serviceBusSuffix}`,
    eventHub: config.telemetry.eventHub,
    ...(custom ? { customEndpointAddress: custom } : {}),
  };
}
