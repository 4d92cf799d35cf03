import { describe, expect, it } from "vitest";
import { BUILT_IN_ROLES, roleGranting } from "../../src/preflight/built-in-roles.js";
import { actionMatches, allows, parentScope, scopeCovers, type PermissionEntry } from "../../src/preflight/rbac.js";

const role = (name: string): PermissionEntry[] => BUILT_IN_ROLES.find((r) => r.name === name)!.permissions;

describe("ARM action wildcards", () => {
  it.each([
    ["*", "Microsoft.ApiManagement/service/write", true],
    ["*/read", "Microsoft.ApiManagement/service/namedValues/read", true],
    ["*/read", "Microsoft.ApiManagement/service/namedValues/write", false],
    // `*` spans `/`: one star covers any depth of resource type.
    ["Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true],
    ["Microsoft.Authorization/*/Write", "Microsoft.Authorization/policyAssignments/exemptions/write", true],
    ["Microsoft.EventHub/*/eventhubs/read", "Microsoft.EventHub/namespaces/eventhubs/read", true],
    ["Microsoft.ApiManagement/service/*", "Microsoft.ApiManagement/service/apis/operations/policies/write", true],
    ["Microsoft.ApiManagement/service/*", "Microsoft.ApiManagement/locations/deletedservices/delete", false],
    // Case-insensitive, and no partial match: the whole action must fit.
    ["microsoft.resources/subscriptions/resourcegroups/write", "Microsoft.Resources/subscriptions/resourceGroups/write", true],
    ["Microsoft.Resources/subscriptions/resourceGroups/write", "Microsoft.Resources/subscriptions/resourceGroups/writeX", false],
    // Regex characters in a pattern are literal.
    ["Microsoft.Web/sites/.*", "Microsoft.Web/sites/xx", false],
  ])("%s matches %s: %s", (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });
});

describe("permission entries", () => {
  it.each([
    ["Owner", "Microsoft.Authorization/roleAssignments/write", true],
    ["Contributor", "Microsoft.Authorization/roleAssignments/write", false],
    ["Contributor", "Microsoft.ApiManagement/service/namedValues/write", true],
    ["Contributor", "Microsoft.Resources/subscriptions/resourceGroups/write", true],
    ["Reader", "Microsoft.ApiManagement/service/read", true],
    ["Reader", "Microsoft.ApiManagement/service/write", false],
    ["User Access Administrator", "Microsoft.Authorization/roleAssignments/write", true],
    ["User Access Administrator", "Microsoft.EventHub/namespaces/write", false],
    ["API Management Service Contributor", "Microsoft.ApiManagement/service/policyFragments/write", true],
    ["API Management Service Contributor", "Microsoft.EventHub/namespaces/write", false],
    ["Azure Event Hubs Data Sender", "Microsoft.EventHub/namespaces/eventhubs/write", false],
  ])("%s allows %s: %s", (name, action, expected) => {
    expect(allows(role(name), action)).toBe(expected);
  });

  it("adds up entries: a notAction narrows only its own entry", () => {
    expect(allows([...role("Contributor"), ...role("User Access Administrator")], "Microsoft.Authorization/roleAssignments/write")).toBe(true);
    expect(allows([], "Microsoft.ApiManagement/service/write")).toBe(false);
  });

  it.each([
    ["Microsoft.ApiManagement/service/namedValues/write", "API Management Service Contributor"],
    ["Microsoft.EventHub/namespaces/eventhubs/write", "Contributor"],
    ["Microsoft.ApiManagement/locations/deletedservices/delete", "Contributor"],
    ["Microsoft.Authorization/roleAssignments/write", "User Access Administrator"],
    ["Microsoft.Authorization/elevateAccess/Action", "User Access Administrator"],
  ])("names the least privileged built-in role granting %s: %s", (action, name) => {
    expect(roleGranting(action).name).toBe(name);
  });
});

describe("scopes", () => {
  const sub = "/subscriptions/s1";
  const rg = `${sub}/resourceGroups/rg-aeg`;
  const ns = `${rg}/providers/Microsoft.EventHub/namespaces/ns`;
  const hub = `${ns}/eventhubs/hub`;

  it.each([
    [sub, hub, true],
    [rg.toUpperCase(), hub, true],
    [hub, hub, true],
    [`${hub}/`, hub, true],
    [hub, ns, false],
    [`${sub}/resourceGroups/rg-aeg-2`, hub, false],
    ["/subscriptions/s2", hub, false],
    ["/", hub, true],
    ["/providers/Microsoft.Management/managementGroups/root-mg", hub, true],
  ])("an assignment at %s applies at %s: %s", (assigned, target, expected) => {
    expect(scopeCovers(assigned, target)).toBe(expected);
  });

  it.each([
    [hub, ns],
    [ns, rg],
    [`${rg}/providers/Microsoft.ApiManagement/service/apim`, rg],
    [`${hub}/providers/Microsoft.Authorization/roleAssignments/a1`, hub],
    [rg, sub],
    [sub, undefined],
  ])("one level up from %s is %s", (scope, parent) => {
    expect(parentScope(scope)).toBe(parent);
  });
});
