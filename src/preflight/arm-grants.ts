/**
 * What the signed-in identity may do at an ARM scope, read from ARM (GETs only, through an SDK
 * client's pipeline so its credential and the request counter apply).
 *
 * Where the scope exists, ARM is asked directly: `GET {scope}/providers/Microsoft.Authorization/
 * permissions` is ARM's own evaluation (group memberships included) of the identity's role
 * assignments at and above the scope. A scope the plan has not created yet (a fresh resource
 * group, a hub) has no assignment of its own, so what applies there is what applies at its parent:
 * on a 404 the parent is asked instead. The subscription itself has no permissions operation in
 * Microsoft's OpenAPI document (the fidelity gate would refuse it, and Azure-compatible clouds need
 * not serve it), so there aeg evaluates the identity's role assignments (`$filter=assignedTo(…)`,
 * which also counts group memberships) at and above the subscription against their role
 * definitions. Both APIs report active assignments only: a role that is merely PIM-eligible does
 * not count until it is activated, exactly as ARM will treat the writes.
 */
import type { TokenCredential } from "@azure/core-auth";
import { createPipelineRequest, RestError, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import { decodeJwt } from "jose";
import { armScope, type CloudProfile } from "../azure/cloud.js";
import { parentScope, scopeCovers, type PermissionEntry } from "./rbac.js";

const AUTHORIZATION_API_VERSION = "2022-04-01";

export interface ArmGrantDeps {
  /** Any ARM SDK client: its pipeline sends the reads. */
  client: { sendRequest(request: PipelineRequest): Promise<PipelineResponse> };
  credential: TokenCredential;
  cloud: CloudProfile;
  subscriptionId: string;
  signal?: AbortSignal | undefined;
}

interface Assignment {
  properties?: { scope?: string; roleDefinitionId?: string };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** Reads grants scope by scope; every read is made once and shared, so scopes resolve concurrently. */
export class GrantReader {
  private readonly reads = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ArmGrantDeps) {}

  /** The permission entries that apply to the identity at `scope`. */
  grantsAt(scope: string): Promise<PermissionEntry[]> {
    return this.once(`grants ${scope.toLowerCase()}`, async () => {
      const parent = parentScope(scope);
      if (!parent) return this.assignedGrants(scope);
      const answer = await this.get(`${scope}/providers/Microsoft.Authorization/permissions`);
      if (answer.status === 404) return this.grantsAt(parent);
      // Every built-in role that can write here can also read permissions (`*/read`,
      // `Microsoft.Authorization/*/read`): a refused read means nothing is granted here.
      if (answer.status === 403) return [];
      return (await this.paged(answer)) as PermissionEntry[];
    });
  }

  /** Role assignments of the identity that apply at `scope`, resolved to their permission entries. */
  private async assignedGrants(scope: string): Promise<PermissionEntry[]> {
    const oid = await this.objectId();
    const filter = encodeURIComponent(`assignedTo('${oid}')`);
    const answer = await this.get(`${scope}/providers/Microsoft.Authorization/roleAssignments?$filter=${filter}`);
    if (answer.status === 403) return [];
    const assignments = (await this.paged(answer)) as Assignment[];
    const roleIds = new Set(
      assignments
        .filter((a) => a.properties?.scope && scopeCovers(a.properties.scope, scope))
        .map((a) => a.properties?.roleDefinitionId)
        .filter((id): id is string => Boolean(id)),
    );
    const definitions = await Promise.all([...roleIds].map((id) => this.roleDefinition(id)));
    return definitions.flat();
  }

  private roleDefinition(id: string): Promise<PermissionEntry[]> {
    return this.once(`role ${id.toLowerCase()}`, async () => {
      const answer = await this.get(id);
      if (answer.status === 403) return [];
      const properties = answer.body["properties"] as { permissions?: PermissionEntry[] } | undefined;
      return properties?.permissions ?? [];
    });
  }

  /** The identity's object id, from its ARM token (decoded, never shown or kept). */
  private objectId(): Promise<string> {
    return this.once("oid", async () => {
      const token = await this.deps.credential.getToken(armScope(this.deps.cloud), { abortSignal: this.deps.signal });
      const oid = token ? decodeJwt(token.token)["oid"] : undefined;
      if (typeof oid !== "string" || !oid) throw new Error("the ARM access token carries no object id (oid)");
      return oid;
    });
  }

  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    let pending = this.reads.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = read();
      this.reads.set(key, pending);
    }
    return pending;
  }

  /** The `value` of a list answer, following `nextLink`. */
  private async paged(first: Answer): Promise<unknown[]> {
    const items: unknown[] = [];
    for (let answer = first; ; ) {
      items.push(...((answer.body["value"] as unknown[] | undefined) ?? []));
      const next = answer.body["nextLink"];
      if (typeof next !== "string" || !next) return items;
      answer = await this.get(next);
    }
  }

  /** A GET answered 200, 403 or 404; anything else is thrown as Azure's error for the caller to explain. */
  private async get(pathOrUrl: string): Promise<Answer> {
    const { cloud, client, signal } = this.deps;
    const url = new URL(pathOrUrl.startsWith("/") ? `${cloud.resourceManager}${pathOrUrl}` : pathOrUrl);
    if (!url.searchParams.has("api-version")) url.searchParams.set("api-version", AUTHORIZATION_API_VERSION);
    const request = createPipelineRequest({ url: url.toString(), method: "GET", ...(signal ? { abortSignal: signal } : {}) });
    const response = await client.sendRequest(request);
    const body = response.bodyAsText ? (JSON.parse(response.bodyAsText) as Record<string, unknown>) : {};
    if (response.status === 200 || response.status === 403 || response.status === 404) return { status: response.status, body };
    const error = body["error"] as { code?: string; message?: string } | undefined;
    throw new RestError(error?.message ?? `GET ${url.pathname} answered ${response.status}`, { statusCode: response.status, code: error?.code, request, response });
  }
}
