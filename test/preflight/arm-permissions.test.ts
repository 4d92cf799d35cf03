// The refusal a run without the rights gets: one line per missing action and scope, the role
// that grants it, what to do about PIM, and that nothing was written. Exit 3.
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../src/errors.js";
import { missingPermissionLines, permissionRefusal, type MissingPermission } from "../../src/preflight/arm-permissions.js";

const HUB = "/subscriptions/s1/resourceGroups/rg-aeg/providers/Microsoft.EventHub/namespaces/ns/eventhubs/hub";
const SERVICE = "/subscriptions/s1/resourceGroups/rg-aeg/providers/Microsoft.ApiManagement/service/apim";
const roleWrite: MissingPermission = { step: "telemetry", scope: HUB, action: "Microsoft.Authorization/roleAssignments/write", grantedBy: "User Access Administrator" };

describe("permissionRefusal", () => {
  it("one missing action: one line with its scope and a role, exit 3, nothing written", () => {
    const err = permissionRefusal([roleWrite]);
    expect(err.exitCode).toBe(ExitCode.auth);
    expect(err.message.split("\n")).toEqual([
      "the signed-in identity may not make one write this plan needs; nothing was written:",
      `  telemetry: Microsoft.Authorization/roleAssignments/write at ${HUB} (granted by User Access Administrator)`,
    ]);
    expect(err.hint).toMatch(/Privileged Identity Management does not count until it is activated: activate it/);
  });

  it("one line per action and scope, naming every step that needs it", () => {
    const nv = (step: "named-values" | "retired-agents", action: string): MissingPermission => ({ step, scope: SERVICE, action, grantedBy: "API Management Service Contributor" });
    const missing = [nv("named-values", "Microsoft.ApiManagement/service/namedValues/write"), roleWrite, nv("retired-agents", "Microsoft.ApiManagement/service/namedValues/write"), nv("retired-agents", "Microsoft.ApiManagement/service/namedValues/delete")];
    expect(missingPermissionLines(missing)).toEqual([
      `named-values, retired-agents: Microsoft.ApiManagement/service/namedValues/write at ${SERVICE} (granted by API Management Service Contributor)`,
      `telemetry: Microsoft.Authorization/roleAssignments/write at ${HUB} (granted by User Access Administrator)`,
      `retired-agents: Microsoft.ApiManagement/service/namedValues/delete at ${SERVICE} (granted by API Management Service Contributor)`,
    ]);
    expect(permissionRefusal(missing).message).toMatch(/^the signed-in identity may not make 3 kinds of write this plan needs; nothing was written:\n/);
  });
});
