// Microsoft.Resources: the subscription (read and listed) and its resource groups.
import { json } from "../http.js";
import { body, fail, key, type ArmContext, type ArmRouter } from "./common.js";
import { softDeleteService } from "./apim.js";

const RESOURCES_API = "2025-04-01";
const SUBSCRIPTIONS_API = "2022-12-01";

export function registerResources(r: ArmRouter, ctx: ArmContext): void {
  const s = ctx.state;
  const rgId = (name: string) => `/subscriptions/${s.subscriptionId}/resourceGroups/${name}`;
  const render = (g: { name: string; location: string; tags?: Record<string, string> }) => ({
    id: rgId(g.name),
    name: g.name,
    type: "Microsoft.Resources/resourceGroups",
    location: g.location,
    ...(g.tags ? { tags: g.tags } : {}),
    properties: { provisioningState: "Succeeded" },
  });
  const tag = { apiVersion: RESOURCES_API };

  const subscription = () => ({
    id: `/subscriptions/${s.subscriptionId}`,
    subscriptionId: s.subscriptionId,
    tenantId: s.tenantId,
    displayName: "aeg sandbox subscription",
    state: "Enabled",
    subscriptionPolicies: { locationPlacementId: "Public_2014-09-01", quotaId: "PayAsYouGo_2014-09-01", spendingLimit: "Off" },
    authorizationSource: "RoleBased",
  });
  r.add("GET", "/subscriptions/{sub}", () => json(200, subscription()), { apiVersion: SUBSCRIPTIONS_API });
  // Every caller with any role in the tenant sees its one subscription (both apps do).
  r.add("GET", "/subscriptions", () => json(200, { value: [subscription()] }), { apiVersion: SUBSCRIPTIONS_API });

  r.add("GET", "/subscriptions/{sub}/resourcegroups", () => json(200, { value: Object.values(s.resourceGroups).map(render) }), tag);

  r.add("HEAD", "/subscriptions/{sub}/resourcegroups/{rg}", (req) => ({ status: s.resourceGroups[req.params["rg"]!.toLowerCase()] ? 204 : 404 }), tag);

  r.add(
    "GET",
    "/subscriptions/{sub}/resourcegroups/{rg}",
    (req) => {
      const g = s.resourceGroups[req.params["rg"]!.toLowerCase()];
      if (!g) fail(404, "ResourceGroupNotFound", `Resource group '${req.params["rg"]}' could not be found.`);
      return json(200, render(g));
    },
    tag,
  );

  r.add(
    "PUT",
    "/subscriptions/{sub}/resourcegroups/{rg}",
    (req) => {
      const name = req.params["rg"]!;
      if (!/^[-\w._()]{1,90}$/.test(name) || name.endsWith(".")) fail(400, "InvalidResourceGroup", `The provided resource group name '${name}' has these invalid characters: '${name}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.`);
      const b = body(req);
      const location = typeof b["location"] === "string" ? b["location"] : undefined;
      if (!location) fail(400, "LocationRequired", "The location property is required for this definition.");
      const existing = s.resourceGroups[name.toLowerCase()];
      if (existing && existing.location.replace(/\s/g, "").toLowerCase() !== location.replace(/\s/g, "").toLowerCase()) {
        fail(409, "InvalidResourceGroupLocation", `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.location}'.`);
      }
      const g = { name: existing?.name ?? name, location: existing?.location ?? location, tags: (b["tags"] as Record<string, string> | undefined) ?? existing?.tags };
      s.resourceGroups[name.toLowerCase()] = g;
      return json(existing ? 200 : 201, render(g));
    },
    tag,
  );

  r.add(
    "DELETE",
    "/subscriptions/{sub}/resourcegroups/{rg}",
    (req) => {
      const k = req.params["rg"]!.toLowerCase();
      if (!s.resourceGroups[k]) fail(404, "ResourceGroupNotFound", `Resource group '${req.params["rg"]}' could not be found.`);
      // Deleting a group deletes what is in it; APIM services go to the soft-deleted list as on Azure.
      for (const [sk, svc] of Object.entries(s.apim)) if (svc.resourceGroup.toLowerCase() === k) softDeleteService(ctx, sk);
      for (const [nk, ns] of Object.entries(s.eventHubNamespaces)) if (ns.resourceGroup.toLowerCase() === k) {
        delete s.eventHubNamespaces[nk];
        ctx.events?.forget(ns.name);
      }
      const prefix = key(`/subscriptions/${s.subscriptionId}/resourceGroups/${k}`);
      for (const [ak, a] of Object.entries(s.roleAssignments)) if (a.scope.toLowerCase() === prefix || a.scope.toLowerCase().startsWith(prefix + "/")) delete s.roleAssignments[ak];
      delete s.resourceGroups[k];
      // Completes synchronously (200 is in the spec): no ARM operation-result URL has a spec operation to validate against.
      return { status: 200 };
    },
    tag,
  );
}
