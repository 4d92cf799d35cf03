import { describe, expect, it } from "vitest";
import { apimStep } from "../../src/steps/apim.js";
import { gatewayIdentity } from "../../src/steps/apim-state.js";
import { planInput, PRINCIPAL_ID, SAMPLE } from "../support/seed.js";

const service = (over: Record<string, unknown> = {}) => ({
  id: "svc",
  provisioningState: "Succeeded",
  identity: { type: "SystemAssigned", principalId: PRINCIPAL_ID, tenantId: "t" },
  publisherName: "AEG Sandbox",
  publisherEmail: "governance@example.com",
  sku: { name: "Developer", capacity: 1 },
  gatewayUrl: "https://gw",
  ...over,
});
const deleted = { deletionDate: new Date("2026-12-01T00:00:00Z") };
const resource = `service/${SAMPLE.apim}`;

describe("step apim", () => {
  it.each([
    ["a missing service is created", {}, {}, "create", "create"],
    ["a service being created is waited for", { service: service({ provisioningState: "Activating" }) }, {}, "create", "wait"],
    ["a service being updated is waited for", { service: service({ provisioningState: "Updating" }) }, {}, "update", "wait"],
    ["a service without a system identity gets one", { service: service({ identity: { type: "None" } }) }, {}, "update", "update"],
    ["a failed service is updated", { service: service({ provisioningState: "Failed" }) }, {}, "update", "update"],
    ["a soft-deleted name is recovered when asked", { deleted }, { recoverSoftDeleted: true }, "create", "create"],
    ["a soft-deleted name is purged when asked", { deleted }, { purgeSoftDeleted: true }, "create", "purge-and-create"],
  ])("%s", async (_name, observed, options, action, kind) => {
    const [change] = apimStep.plan(apimStep.desired(await planInput({ options })), observed);
    expect(change).toMatchObject({ action, resource, op: { kind } });
  });

  it("a matching service is in sync", async () => {
    expect(apimStep.plan(apimStep.desired(await planInput()), { service: service() })).toEqual([{ action: "ok", resource, fields: [], seen: expect.stringMatching(/^sha256:/) }]);
  });

  it("a soft-deleted name without a choice is blocked at plan time, exit 2, naming both flags", async () => {
    const desired = apimStep.desired(await planInput());
    const [change] = apimStep.plan(desired, { deleted });
    expect(change).toMatchObject({ action: "blocked", resource, exitCode: 2 });
    expect(change!.note).toMatch(/--recover-soft-deleted or --purge-soft-deleted/);
    expect(change!.hint).toMatch(/--purge-soft-deleted/);
    expect(change).not.toHaveProperty("op");
    // Later steps learn that the identity is not coming, and block instead of failing mid-apply.
    expect(gatewayIdentity({ outputs: { apim: apimStep.outputs(desired, { deleted }) } })).toEqual({ state: "blocked" });
  });

  it("keeps user-assigned identities when it adds the system one", async () => {
    const live = service({ identity: { type: "UserAssigned", userAssignedIdentities: { "/ua/x": {} } } });
    const [change] = apimStep.plan(apimStep.desired(await planInput()), { service: live });
    expect(change!.op).toMatchObject({ kind: "update", body: { identity: { type: "SystemAssigned, UserAssigned", userAssignedIdentities: { "/ua/x": {} } } } });
  });

  it("tells later steps the principal only once the service is ready", async () => {
    const desired = apimStep.desired(await planInput());
    expect(apimStep.outputs(desired, { service: service() })).toMatchObject({ ready: "true", principalId: PRINCIPAL_ID });
    expect(apimStep.outputs(desired, { service: service({ provisioningState: "Activating" }) })).toMatchObject({ ready: undefined, principalId: undefined });
    expect(gatewayIdentity({ outputs: { apim: apimStep.outputs(desired, {}) } })).toEqual({ state: "pending" });
  });
});
