import { describe, expect, it } from "vitest";
import { apiStep } from "../../src/steps/api.js";
import { planInput, SAMPLE, sampleConfig, writes } from "../support/seed.js";

interface Desired {
  gateway: { apiId: string; apiPath: string; apiDisplayName: string };
  serviceUrl: string;
  apiPolicy: string;
  operations: Array<{ id: string; displayName: string; method: string; urlTemplate: string; policy: string }>;
}

interface Shard {
  api?: object;
  operations: Map<string, object>;
  apiPolicy?: { value: string };
  operationPolicies: Map<string, { value: string }>;
}

/** One of aeg's APIs as it is after a complete run, holding `operations`. */
function shardHolding(desired: Desired, index: number, operations: Desired["operations"]): Shard {
  const suffix = index === 1 ? "" : `-${index}`;
  return {
    api: { displayName: `${desired.gateway.apiDisplayName}${index === 1 ? "" : ` (${index})`}`, path: `${desired.gateway.apiPath}${suffix}`, serviceUrl: desired.serviceUrl, protocols: ["https"], subscriptionRequired: false },
    operations: new Map(operations.map((o) => [o.id, { name: o.id, displayName: o.displayName, method: o.method, urlTemplate: o.urlTemplate }])),
    apiPolicy: { value: desired.apiPolicy },
    operationPolicies: new Map(operations.map((o) => [o.id, { value: o.policy }])),
  };
}

async function live(edit: (o: Shard) => void = () => {}) {
  const desired = apiStep.desired(await planInput()) as Desired;
  const observed = shardHolding(desired, 1, desired.operations);
  edit(observed);
  return apiStep.plan(desired as never, { shards: new Map([[1, observed]]), otherOperations: 0 });
}

/** `n` agents named agent-001…, on `sku`. */
async function manyAgents(n: number, sku = "Developer") {
  const config = sampleConfig((raw) => {
    raw.apim.sku = sku;
    if (sku === "Consumption") raw.apim.capacity = 0;
    raw.agents = Array.from({ length: n }, (_, i) => ({ ...raw.agents[0], id: `agent-${String(i + 1).padStart(3, "0")}` }));
  });
  return apiStep.desired(await planInput({ config })) as Desired;
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
    // Deleted before the operations are written, so that new ones find room in the API.
    ["a hand-made operation goes before a new one comes", (o: any) => {
      o.operations.set("backdoor", { name: "backdoor" });
      o.operations.delete("contoso-hr-helper");
    }, [["delete", `${API}/operations/backdoor`], ["create", `${API}/operations/contoso-hr-helper`]]],
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

  describe("more agents than one API holds (100 operations)", () => {
    it("a fresh setup of 250 agents: three APIs of 100, 100 and 50, each with the API policy", async () => {
      const desired = await manyAgents(250);
      const changes = apiStep.plan(desired as never, { shards: new Map(), otherOperations: 0 });
      const apis = changes.filter((c) => (c.op as { kind?: string })?.kind === "api").map((c) => (c.op as { apiId: string; body: { path: string; displayName: string } }));
      expect(apis.map((a) => [a.apiId, a.body.path, a.body.displayName])).toEqual([
        ["aeg-gateway", "agents", "Agent Eligibility Gateway"],
        ["aeg-gateway-2", "agents-2", "Agent Eligibility Gateway (2)"],
        ["aeg-gateway-3", "agents-3", "Agent Eligibility Gateway (3)"],
      ]);
      const perApi = (apiId: string) => changes.filter((c) => (c.op as { kind?: string; apiId?: string })?.kind === "operation" && (c.op as { apiId: string }).apiId === apiId).length;
      expect([perApi("aeg-gateway"), perApi("aeg-gateway-2"), perApi("aeg-gateway-3")]).toEqual([100, 100, 50]);
      expect(changes.filter((c) => (c.op as { kind?: string })?.kind === "api-policy")).toHaveLength(3);
      // Each API has its own lock: writes under different APIs may overlap.
      expect(new Set(changes.map((c) => c.lock))).toEqual(new Set(["apis/aeg-gateway", "apis/aeg-gateway-2", "apis/aeg-gateway-3"]));
    });

    it("agents stay in the API they are in; a new agent takes the first free place; an emptied API goes", async () => {
      const desired = await manyAgents(150);
      const ops = desired.operations;
      // Live: 1 holds agents 1-100, 2 holds 101-150; a third API is left over from 250 agents.
      const one = shardHolding(desired, 1, ops.slice(0, 100));
      const two = shardHolding(desired, 2, ops.slice(100, 150));
      const three = shardHolding(desired, 3, []);
      expect(writes(apiStep.plan(desired as never, { shards: new Map([[1, one], [2, two], [3, three]]), otherOperations: 0 }))).toEqual([["delete", "apis/aeg-gateway-3"]]);

      // Agent 7 is retired and a new agent comes: it takes agent 7's place in the first API,
      // and the agents of the second API keep their URL.
      const next = await manyAgents(151);
      const retired = next.operations.filter((o) => o.id !== "agent-007");
      const nextDesired = { ...next, operations: retired };
      const changes = writes(apiStep.plan(nextDesired as never, { shards: new Map([[1, one], [2, two]]), otherOperations: 0 }));
      expect(changes).toEqual([
        ["delete", "apis/aeg-gateway/operations/agent-007"],
        ["create", "apis/aeg-gateway/operations/agent-151"],
        ["create", "apis/aeg-gateway/operations/agent-151/policies/policy"],
      ]);
    });

    it("an API fuller than 100 (made before the limit) keeps its operations", async () => {
      const desired = await manyAgents(120);
      const one = shardHolding(desired, 1, desired.operations);
      expect(writes(apiStep.plan(desired as never, { shards: new Map([[1, one]]), otherOperations: 0 }))).toEqual([]);
    });
  });

  describe("the instance's limits, known before the first write", () => {
    it("more operations than the tier holds, with those of other APIs: blocked with exit 2, naming how many agents fit", async () => {
      const desired = await manyAgents(150);
      const changes = apiStep.plan(desired as never, { shards: new Map(), otherOperations: 2_900 });
      expect(changes[0]).toMatchObject({ action: "blocked", resource: "apis", exitCode: 2 });
      expect(changes[0]!.note).toBe("agents: 150 agents need as many operations beside the 2900 of the instance's other APIs; the Developer tier of API Management holds 3000 per instance: at most 100 agents fit");
    });

    it("a policy document larger than the tier accepts: blocked, naming its size and the tier's", async () => {
      const desired = await manyAgents(1, "Consumption");
      const big = { ...desired, apiPolicy: `<policies><inbound><base />${"<!-- padding -->".repeat(1200)}</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>` };
      const changes = apiStep.plan(big as never, { shards: new Map(), otherOperations: 0 });
      const blockedPolicy = changes.find((c) => c.resource === "apis/aeg-gateway/policies/policy")!;
      expect(blockedPolicy).toMatchObject({ action: "blocked", exitCode: 2 });
      expect(blockedPolicy.note).toMatch(/^templates: this policy document is 1[89]\.\d KiB; the Consumption tier of API Management accepts at most 16 KiB$/);
    });
  });
});
