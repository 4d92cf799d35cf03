/**
 * The ARM actions each setup and teardown step's writes need, and where. One table: `requiredArmActions` reads
 * a plan through it, and the README's "Permissions checked before any write" table is checked
 * against it (test/preflight/arm-actions.test.ts). Action names are Microsoft's (the resource
 * provider operations reference); they follow the resource type path of the request.
 */
import type { Config } from "../config/schema.js";
import { pending, type Change, type StepId, type StepReport } from "../engine/change.js";

/** Where a write is authorized: the container the resource is written into. */
export type ScopeLevel = "subscription" | "resource group" | "APIM instance" | "Event Hubs namespace" | "event hub";

export interface ArmWrite {
  action: string;
  at: ScopeLevel;
}

export interface RequiredArmAction {
  step: StepId;
  /** The ARM id of the scope the action is needed at. */
  scope: string;
  action: string;
}

const APIM = "Microsoft.ApiManagement/service";
const write = (action: string, at: ScopeLevel): ArmWrite => ({ action, at });

/**
 * Step → the op's `kind` (or, for steps whose op has none, the change's action) → what it needs.
 * Reads are not listed: the plan has already made them. A top-level resource is checked at its
 * resource group when created (it has no scope of its own yet); APIM's update at the instance.
 */
export const ARM_WRITES = {
  "resource-group": { create: [write("Microsoft.Resources/subscriptions/resourceGroups/write", "subscription")] },
  apim: {
    create: [write(`${APIM}/write`, "resource group")],
    "purge-and-create": [write("Microsoft.ApiManagement/locations/deletedservices/delete", "subscription"), write(`${APIM}/write`, "resource group")],
    update: [write(`${APIM}/write`, "APIM instance")],
    /** Waits for an operation already running in Azure: reads only. */
    wait: [],
  },
  "named-values": {
    create: [write(`${APIM}/namedValues/write`, "APIM instance")],
    update: [write(`${APIM}/namedValues/write`, "APIM instance")],
  },
  telemetry: {
    namespace: [write("Microsoft.EventHub/namespaces/write", "resource group")],
    hub: [write("Microsoft.EventHub/namespaces/eventhubs/write", "Event Hubs namespace")],
    "consumer-group": [write("Microsoft.EventHub/namespaces/eventhubs/consumergroups/write", "event hub")],
    "role-assignment": [write("Microsoft.Authorization/roleAssignments/write", "event hub")],
    logger: [write(`${APIM}/loggers/write`, "APIM instance")],
  },
  fragments: {
    create: [write(`${APIM}/policyFragments/write`, "APIM instance")],
    update: [write(`${APIM}/policyFragments/write`, "APIM instance")],
  },
  api: {
    api: [write(`${APIM}/apis/write`, "APIM instance")],
    "delete-api": [write(`${APIM}/apis/delete`, "APIM instance")],
    operation: [write(`${APIM}/apis/operations/write`, "APIM instance")],
    "delete-operation": [write(`${APIM}/apis/operations/delete`, "APIM instance")],
    "api-policy": [write(`${APIM}/apis/policies/write`, "APIM instance")],
    "operation-policy": [write(`${APIM}/apis/operations/policies/write`, "APIM instance")],
  },
  "retired-agents": { delete: [write(`${APIM}/namedValues/delete`, "APIM instance")] },
  // Teardown: each removal, at the scope it deletes from.
  "remove-data-sender": { delete: [write("Microsoft.Authorization/roleAssignments/delete", "event hub")] },
  "remove-api": { delete: [write(`${APIM}/apis/delete`, "APIM instance")] },
  "remove-fragments": { delete: [write(`${APIM}/policyFragments/delete`, "APIM instance")] },
  "remove-named-values": { delete: [write(`${APIM}/namedValues/delete`, "APIM instance")] },
  "remove-logger": { delete: [write(`${APIM}/loggers/delete`, "APIM instance")] },
  "remove-apim": {
    delete: [write(`${APIM}/delete`, "APIM instance")],
    "delete-and-purge": [write(`${APIM}/delete`, "APIM instance"), write("Microsoft.ApiManagement/locations/deletedservices/delete", "subscription")],
    purge: [write("Microsoft.ApiManagement/locations/deletedservices/delete", "subscription")],
    /** Waits for a deletion already running in Azure: reads only, then the purge if asked. */
    "wait-deleted": [],
    "wait-deleted-and-purge": [write("Microsoft.ApiManagement/locations/deletedservices/delete", "subscription")],
  },
  "remove-telemetry": {
    hub: [write("Microsoft.EventHub/namespaces/eventhubs/delete", "Event Hubs namespace")],
    namespace: [write("Microsoft.EventHub/namespaces/delete", "Event Hubs namespace")],
  },
} satisfies Partial<Record<StepId, Record<string, ArmWrite[]>>>;

type ArmStepId = keyof typeof ARM_WRITES;

function isArmStep(id: StepId): id is ArmStepId {
  return id in ARM_WRITES;
}

/** The ARM id of a scope level for this configuration. */
export function scopeId(level: ScopeLevel, config: Pick<Config, "subscriptionId" | "resourceGroup" | "apim" | "telemetry">): string {
  const subscription = `/subscriptions/${config.subscriptionId}`;
  const group = `${subscription}/resourceGroups/${config.resourceGroup}`;
  const namespace = `${group}/providers/Microsoft.EventHub/namespaces/${config.telemetry.namespace}`;
  switch (level) {
    case "subscription":
      return subscription;
    case "resource group":
      return group;
    case "APIM instance":
      return `${group}/providers/Microsoft.ApiManagement/service/${config.apim.name}`;
    case "Event Hubs namespace":
      return namespace;
    case "event hub":
      return `${namespace}/eventhubs/${config.telemetry.eventHub}`;
  }
}

/** The table's key for a change: its op's kind where the op has one, else its action. */
function keyOf(change: Change): string {
  const op = change.op as { kind?: unknown } | undefined;
  return typeof op?.kind === "string" ? op.kind : change.action;
}

/**
 * Pure: the ARM action each pending change of the ARM steps needs and the scope it is needed at,
 * once per (step, scope, action). Other steps (Dataverse, Graph) have preflights of their own.
 */
export function requiredArmActions(plan: StepReport[], config: Config): RequiredArmAction[] {
  const seen = new Set<string>();
  const needed: RequiredArmAction[] = [];
  for (const report of plan) {
    if (!isArmStep(report.id)) continue;
    const table: Record<string, ArmWrite[] | undefined> = ARM_WRITES[report.id];
    for (const change of pending(report.changes)) {
      const writes = table[keyOf(change)];
      if (!writes) throw new Error(`the ARM permission table has no entry for step ${report.id}, change ${keyOf(change)} (${change.resource})`);
      for (const { action, at } of writes) {
        const scope = scopeId(at, config);
        const key = `${report.id}|${scope.toLowerCase()}|${action.toLowerCase()}`;
        if (seen.has(key)) continue;
        seen.add(key);
        needed.push({ step: report.id, scope, action });
      }
    }
  }
  return needed;
}
