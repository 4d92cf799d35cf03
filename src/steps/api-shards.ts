// aeg's agents live in one API while they fit, then in more. APIM refuses a 101st operation in
// one API (apim-limits.ts), so the agents beyond it go to `<apiId>-2` at `<apiPath>-2`, and so on.
// An agent's URL is its API's path and its slug, so an agent stays in the API it is in: only new
// agents are placed, each in the first API with room. Every API gets the same API policy.

import type { ApiContract, ApiManagementClient } from "@azure/arm-apimanagement";
import type { Config } from "../config/schema.js";

export interface ApiShard {
  /** 1 for the configured API, 2… for the ones after it. */
  index: number;
  apiId: string;
  path: string;
  displayName: string;
}

type GatewayNames = Pick<Config["gateway"], "apiId" | "apiPath" | "apiDisplayName">;

export function shardOf(gateway: GatewayNames, index: number): ApiShard {
  if (index === 1) return { index, apiId: gateway.apiId, path: gateway.apiPath, displayName: gateway.apiDisplayName };
  return { index, apiId: `${gateway.apiId}-${index}`, path: `${gateway.apiPath}-${index}`, displayName: `${gateway.apiDisplayName} (${index})` };
}

/** The shard an API id names, or undefined when it is not one of aeg's. */
export function shardIndexOf(gateway: GatewayNames, apiId: string): number | undefined {
  const id = apiId.toLowerCase();
  const base = gateway.apiId.toLowerCase();
  if (id === base) return 1;
  const m = id.startsWith(`${base}-`) ? /^([2-9]|[1-9]\d+)$/.exec(id.slice(base.length + 1)) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * Which API each wanted operation goes to. `live` says where each operation already is (an id in
 * several APIs, after an interrupted change, stays in the first). New operations fill the APIs in
 * order, each up to `perApi`; an API already fuller than that keeps what it has.
 */
export function placeOperations(wanted: string[], live: ReadonlyMap<string, readonly number[]>, perApi: number): Map<string, number> {
  const placed = new Map<string, number>();
  const count = new Map<number, number>();
  const add = (id: string, index: number) => {
    placed.set(id, index);
    count.set(index, (count.get(index) ?? 0) + 1);
  };
  for (const id of wanted) {
    const where = live.get(id);
    if (where?.length) add(id, Math.min(...where));
  }
  for (const id of wanted) {
    if (placed.has(id)) continue;
    let index = 1;
    while ((count.get(index) ?? 0) >= perApi) index++;
    add(id, index);
  }
  return placed;
}

/** The APIs of the instance that are aeg's shards, in order. */
export async function listShardApis(apim: ApiManagementClient, config: Config): Promise<Array<{ shard: ApiShard; api: ApiContract }>> {
  const found: Array<{ shard: ApiShard; api: ApiContract }> = [];
  for await (const api of apim.api.listByService(config.resourceGroup, config.apim.name)) {
    const index = api.name ? shardIndexOf(config.gateway, api.name) : undefined;
    if (index !== undefined) found.push({ shard: shardOf(config.gateway, index), api });
  }
  return found.sort((a, b) => a.shard.index - b.shard.index);
}

/** Each operation of aeg's APIs with the path of the API it is in: where the gateway serves it. */
export async function operationPaths(apim: ApiManagementClient, config: Config): Promise<Map<string, { apiId: string; path: string }>> {
  const paths = new Map<string, { apiId: string; path: string }>();
  for (const { shard, api } of await listShardApis(apim, config)) {
    for await (const op of apim.apiOperation.listByApi(config.resourceGroup, config.apim.name, shard.apiId)) {
      if (op.name && !paths.has(op.name)) paths.set(op.name, { apiId: shard.apiId, path: api.path ?? shard.path });
    }
  }
  return paths;
}
