// The built-in Azure roles the sandbox knows: their ids (the same in every tenant) and their
// permission lists as Microsoft publishes them. The sandbox's own copy: it never imports src/.

export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export interface RoleDefinition {
  roleName: string;
  permissions: Permission[];
}

const block = (actions: string[], more: Partial<Permission> = {}): Permission => ({ actions, notActions: [], dataActions: [], notDataActions: [], ...more });

export const OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
export const CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c";
export const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

/** Keyed by the role definition's GUID (lower case). */
export const ROLE_DEFINITIONS: Record<string, RoleDefinition> = {
  [OWNER]: { roleName: "Owner", permissions: [block(["*"])] },
  [CONTRIBUTOR]: {
    roleName: "Contributor",
    permissions: [
      block(["*"], {
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
      }),
    ],
  },
  [READER]: { roleName: "Reader", permissions: [block(["*/read"])] },
  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": { roleName: "User Access Administrator", permissions: [block(["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"])] },
  "312a565d-c81f-4fd8-895a-4e21e48d571c": {
    roleName: "API Management Service Contributor",
    permissions: [
      block([
        "Microsoft.ApiManagement/service/*",
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.ResourceHealth/availabilityStatuses/read",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
      ]),
    ],
  },
  "2b629674-e913-4c01-ae53-ef4638d8f975": {
    roleName: "Azure Event Hubs Data Sender",
    permissions: [block(["Microsoft.EventHub/*/eventhubs/read"], { dataActions: ["Microsoft.EventHub/*/send/action"] })],
  },
  "a638d3c7-ab3a-418d-83e6-5f17a39d4fde": {
    roleName: "Azure Event Hubs Data Receiver",
    permissions: [block(["Microsoft.EventHub/*/eventhubs/consumergroups/read"], { dataActions: ["Microsoft.EventHub/*/receive/action"] })],
  },
  "f526a384-b230-433a-b45c-95f59c4a2dec": {
    roleName: "Azure Event Hubs Data Owner",
    permissions: [block(["Microsoft.EventHub/*"], { dataActions: ["Microsoft.EventHub/*"] })],
  },
};
