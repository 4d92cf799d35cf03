/**
 * The Azure built-in roles aeg names, with their ids (the same in every tenant) and their
 * permission lists as Microsoft publishes them (Azure built-in roles reference). One table: the
 * permission preflight uses it to name a role that grants a missing action, and the README's
 * table is checked against it. The sandbox keeps its own copy (it must not import src/).
 */
import { allows, type PermissionEntry } from "./rbac.js";

export interface BuiltInRole {
  name: string;
  /** The role definition's GUID. */
  id: string;
  permissions: PermissionEntry[];
}

const none = { notActions: [], dataActions: [], notDataActions: [] };

/** Least privileged first: the first role that allows an action is the one a message suggests. */
export const BUILT_IN_ROLES: readonly BuiltInRole[] = [
  { name: "Reader", id: "acdd72a7-3385-48ef-bd42-f606fba81ae7", permissions: [{ ...none, actions: ["*/read"] }] },
  {
    name: "Azure Event Hubs Data Receiver",
    id: "a638d3c7-ab3a-418d-83e6-5f17a39d4fde",
    permissions: [{ ...none, actions: ["Microsoft.EventHub/*/eventhubs/consumergroups/read"], dataActions: ["Microsoft.EventHub/*/receive/action"] }],
  },
  {
    name: "Azure Event Hubs Data Sender",
    id: "2b629674-e913-4c01-ae53-ef4638d8f975",
    permissions: [{ ...none, actions: ["Microsoft.EventHub/*/eventhubs/read"], dataActions: ["Microsoft.EventHub/*/send/action"] }],
  },
  {
    name: "API Management Service Contributor",
    id: "312a565d-c81f-4fd8-895a-4e21e48d571c",
    permissions: [
      {
        ...none,
        actions: [
          "Microsoft.ApiManagement/service/*",
          "Microsoft.Authorization/*/read",
          "Microsoft.Insights/alertRules/*",
          "Microsoft.ResourceHealth/availabilityStatuses/read",
          "Microsoft.Resources/deployments/*",
          "Microsoft.Resources/subscriptions/resourceGroups/read",
          "Microsoft.Support/*",
        ],
      },
    ],
  },
  {
    name: "Contributor",
    id: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    permissions: [
      {
        ...none,
        actions: ["*"],
        notActions: [
          "Microsoft.Authorization/*/Delete",
          "Microsoft.Authorization/*/Write",
          "Microsoft.Authorization/elevateAccess/Action",
          "Microsoft.Blueprint/blueprintAssignments/write",
          "Microsoft.Blueprint/blueprintAssignments/delete",
          "Microsoft.Compute/galleries/share/action",
          "Microsoft.Purview/consents/write",
          "Microsoft.Purview/consents/delete",
          "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
          "Microsoft.Subscription/cancel/action",
          "Microsoft.Subscription/enable/action",
        ],
      },
    ],
  },
  { name: "User Access Administrator", id: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", permissions: [{ ...none, actions: ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"] }] },
  { name: "Owner", id: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", permissions: [{ ...none, actions: ["*"] }] },
];

/** The least privileged built-in role of the table that allows `action` (Owner allows every action). */
export function roleGranting(action: string): BuiltInRole {
  return BUILT_IN_ROLES.find((role) => allows(role.permissions, action)) ?? BUILT_IN_ROLES[BUILT_IN_ROLES.length - 1]!;
}
