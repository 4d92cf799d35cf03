import { describe, expect, it } from "vitest";
import { apiStep } from "../../src/steps/api.js";
import { planInput, SAMPLE, writes } from "../support/seed.js";

interface Desired {
  body: Record<string, unknown>;
  apiPolicy: string;
  operations: Array<{ id: string; displayName: string; method: string; urlTemplate: string; policy: string }>;
}

async function live(edit: (o: { api?: object; operations: Map<string, object>; apiPolicy?: { value: string }; operationPolicies: Map<string, { value: string }> }) => void = () => {}) {
  const desired = apiStep.desired(await planInput()) as Desired;
  const observed = {
    api: { ...desired.body },
    operations: new Map(desired.operations.map((o) => [o.id, { name: o.id, displayName: o.displayName, method: o.method, urlTemplate: o.urlTemplate }])),
    apiPolicy: { value: desired.apiPolicy },
    operationPolicies: new Map(desired.operations.map((o) => [o.id, { value: o.policy }])),
  };
  edit(observed);
  return apiStep.plan(desired, observed);
}

const API = `apis/${SAMPLE.apiId}`;

describe("step api", () => {
  it.each([
    ["all in place", () => {}, []],
    [
      "a fresh instance: API, operations, then policies",
      (o: any) => {
        delete o.api;
        delete o.apiPolicy;
        o.operations.clear();
        o.operationPolicies.clear();
      },
      [
        ["create", API],
        ["create", `${API}/operations/contoso-kb-assistant`],
        ["create", `${API}/operations/contoso-hr-helper`],
        ["create", `${API}/policies/policy`],
        ["create", `${API}/operations/contoso-kb-assistant/policies/policy`],
        ["create", `${API}/operations/contoso-hr-helper/policies/policy`],
      ],
    ],
    // An operation aeg did not ask for would reach the backend past the per-agent wiring.
    ["an operation added by hand is deleted", (o: any) => o.operations.set("backdoor", { name: "backdoor" }), [["delete", `${API}/operations/backdoor`]]],
    ["subscription keys switched on by hand are switched off", (o: any) => (o.api.subscriptionRequired = true), [["update", API]]],
    ["an operation policy deleted by hand is restored", (o: any) => o.operationPolicies.delete("contoso-hr-helper"), [["create", `${API}/operations/contoso-hr-helper/policies/policy`]]],
  ])("%s", async (_name, edit, expected) => {
    expect(writes(await live(edit))).toEqual(expected);
  });

  it("orders its writes as data: the API first, each operation before its policy, all under the API's lock", async () => {
    const changes = (await live((o: any) => {
      delete o.api;
      o.operations.clear();
      o.operationPolicies.delete("contoso-hr-helper");
    })).filter((c) => c.action !== "ok");
    expect(changes.map((c) => [c.resource, c.after, c.lock])).toEqual([
      [API, [], API],
      [`${API}/operations/contoso-kb-assistant`, [API], API],
      [`${API}/operations/contoso-hr-helper`, [API], API],
      [`${API}/operations/contoso-hr-helper/policies/policy`, [API, `${API}/operations/contoso-hr-helper`], API],
    ]);
    expect((await live()).every((c) => c.after === undefined && c.lock === undefined)).toBe(true);
  });

  it("every write is an APIM write with its request as data", async () => {
    const changes = (await live((o: any) => {
      delete o.api;
      o.operations.clear();
    })).filter((c) => c.action !== "ok");
    expect(changes.every((c) => c.apimWrite)).toBe(true);
    expect(changes.map((c) => (c.op as { kind: string }).kind)).toEqual(["api", "operation", "operation"]);
    expect(JSON.parse(JSON.stringify(changes))).toEqual(changes);
  });
});
