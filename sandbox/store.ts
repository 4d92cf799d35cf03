// Tenant state on disk: one JSON document, written atomically (see state-dir.ts) whenever it
// changed, so a CLI run killed at any point leaves the last complete state behind. The ground
// floor of the sandbox: it imports no service; services that keep state add their slots to
// TenantState from their side (governance/state.ts).
import fs from "node:fs";
import path from "node:path";
import { randomUUID, randomBytes } from "node:crypto";
import { writeAtomic } from "./state-dir.js";

export interface AppRecord {
  clientId: string;
  clientSecret: string;
  /** Object id of the app's service principal (the `oid` claim). */
  objectId: string;
  displayName: string;
  role: "Owner" | "Reader" | "Contributor";
}

/** A directory principal that role assignments may name (apps and managed identities). */
export interface PrincipalRecord {
  objectId: string;
  appId: string;
  displayName: string;
  kind: "Application" | "ManagedIdentity";
}

export interface ChildRecord {
  name: string;
  etag: string;
  properties: Record<string, unknown>;
}

export interface PolicyRecord {
  etag: string;
  /** Parsed policy tree (see policyXml.ts), re-serialized on every GET like APIM does. */
  tree: unknown;
  /** Named-value display names and fragment ids the policy references (for delete checks). */
  namedValueRefs: string[];
  fragmentRefs: string[];
}

export interface ApiRecord extends ChildRecord {
  operations: Record<string, ChildRecord & { policy?: PolicyRecord }>;
  policy?: PolicyRecord;
}

export interface FragmentRecord extends ChildRecord {
  policy: PolicyRecord;
}

export interface ApimService {
  name: string;
  resourceGroup: string;
  location: string;
  sku: { name: string; capacity: number };
  tags?: Record<string, string>;
  properties: Record<string, unknown>;
  identity?: { type: string; principalId?: string; tenantId?: string; appId?: string; userAssignedIdentities?: unknown };
  /** Epoch ms of the create/restore PUT. */
  createdAt: number;
  /** Epoch ms when activation completes: time-based, so it keeps going while no sandbox runs. */
  readyAt: number;
  etag: string;
  namedValues: Record<string, ChildRecord>;
  fragments: Record<string, FragmentRecord>;
  apis: Record<string, ApiRecord>;
  loggers: Record<string, ChildRecord>;
}

export interface DeletedApimService {
  service: ApimService;
  deletionDate: string;
}

export interface EhNamespace {
  name: string;
  resourceGroup: string;
  location: string;
  sku: Record<string, unknown>;
  tags?: Record<string, string>;
  properties: Record<string, unknown>;
  /** Id of the in-flight create operation; the namespace is Succeeded once it has finished. */
  pendingOperation?: string;
  createdAt: string;
  updatedAt: string;
  eventHubs: Record<string, ChildRecord>;
  /** Consumer groups made through ARM, per hub (both keys lower-cased); `$Default` is implicit. */
  consumerGroups?: Record<string, Record<string, ConsumerGroupRecord>>;
}

export interface ConsumerGroupRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
  userMetadata?: string;
}

export interface RoleAssignmentRecord {
  name: string;
  scope: string;
  roleDefinitionGuid: string;
  principalId: string;
  principalType: string;
  extra: Record<string, unknown>;
  createdOn: string;
  updatedOn: string;
  createdBy: string;
}

/** An asynchronous operation behind an LRO polling URL. */
export interface OperationRecord {
  id: string;
  kind: "apim-service" | "apim-child" | "apim-service-delete" | "apim-purge" | "apim-service-update" | "eh-namespace";
  /** Polls that still answer InProgress (count-based operations). */
  pollsLeft: number;
  startTime: string;
  endTime?: string;
  /** Resource the operation acts on (service key `rg/name` for time-based APIM creation). */
  target?: string;
  /** Epoch ms before which the operation answers InProgress, whatever its polls (the latency model). */
  readyAt?: number;
}

/** The tenant document. Services add slots of their own: governance/state.ts, EventStoreState. */
export interface TenantState {
  version: 1;
  tenantId: string;
  subscriptionId: string;
  /** Their roles on the subscription are role assignments (seeded by arm/rbac.ts). */
  apps: { operator: AppRecord; reader: AppRecord; contributor: AppRecord };
  principals: Record<string, PrincipalRecord>;
  resourceGroups: Record<string, { name: string; location: string; tags?: Record<string, string> }>;
  /** Keyed by `${rg}/${name}` lower-cased. */
  apim: Record<string, ApimService>;
  /** Soft-deleted APIM services, keyed by name lower-cased (names are unique per subscription). */
  deletedApim: Record<string, DeletedApimService>;
  eventHubNamespaces: Record<string, EhNamespace>;
  roleAssignments: Record<string, RoleAssignmentRecord>;
  operations: Record<string, OperationRecord>;
  /** Ports the listeners used last time: endpoints stay stable across restarts, as Azure's do. */
  ports?: Partial<Record<"arm" | "authority" | "graph" | "dataverse" | "gateway", number>>;
}

export function newApp(displayName: string, role: AppRecord["role"]): AppRecord {
  return {
    clientId: randomUUID(),
    // Entra secrets are ~40 chars with a `~` in them; the shape does not matter, only secrecy.
    clientSecret: randomBytes(30).toString("base64url"),
    objectId: randomUUID(),
    displayName,
    role,
  };
}

function freshState(): TenantState {
  const operator = newApp("aeg operator", "Owner");
  const reader = newApp("aeg reader", "Reader");
  const contributor = newApp("aeg contributor", "Contributor");
  const principals: Record<string, PrincipalRecord> = {};
  for (const a of [operator, reader, contributor]) principals[a.objectId] = { objectId: a.objectId, appId: a.clientId, displayName: a.displayName, kind: "Application" };
  return {
    version: 1,
    tenantId: randomUUID(),
    subscriptionId: randomUUID(),
    apps: { operator, reader, contributor },
    principals,
    resourceGroups: {},
    apim: {},
    deletedApim: {},
    eventHubNamespaces: {},
    roleAssignments: {},
    operations: {},
  };
}

export const STATE_FILE = "state.json";

export class Store {
  private lastWritten = "";
  private soon = false;
  constructor(
    readonly dir: string,
    readonly state: TenantState,
  ) {
    this.lastWritten = JSON.stringify(state);
  }

  static load(dir: string): Store {
    const file = path.join(dir, STATE_FILE);
    let state: TenantState;
    if (fs.existsSync(file)) state = JSON.parse(fs.readFileSync(file, "utf8")) as TenantState;
    else {
      state = freshState();
      writeAtomic(file, JSON.stringify(state));
    }
    pruneOperations(state);
    return new Store(dir, state);
  }

  /**
   * `persist` within 100 ms: after reads, whose only changes are an operation's poll count, so a
   * burst of hundreds of reads costs a few serializations of the tenant, not one each.
   */
  persistSoon(): void {
    if (this.soon) return;
    this.soon = true;
    setTimeout(() => {
      this.soon = false;
      this.persist();
    }, 100).unref();
  }

  /** Writes the state if it changed since the last write. Synchronous so writes never interleave. */
  persist(): void {
    const text = JSON.stringify(this.state);
    if (text === this.lastWritten) return;
    writeAtomic(path.join(this.dir, STATE_FILE), text);
    this.lastWritten = text;
  }
}

/** Finished operations stay pollable for a day (clients resume late), then are dropped. */
function pruneOperations(state: TenantState): void {
  const cutoff = Date.now() - 24 * 3600_000;
  for (const [id, op] of Object.entries(state.operations)) {
    if (Date.parse(op.endTime ?? op.startTime) < cutoff) delete state.operations[id];
  }
}
