// The seed every test shares: the sandbox sample configuration's names, and fixed ids for pure tests.
import { cloudProfile } from "../../src/azure/cloud.js";
import { resolveConfig } from "../../src/config/load.js";
import { sandboxSampleConfig } from "../../src/config/sandbox-sample.js";
import type { Config } from "../../src/config/schema.js";
import type { StepId, StepOutputs } from "../../src/engine/change.js";
import type { PlanInput, RunOptions } from "../../src/engine/step.js";
import { loadTemplates, type TemplateSet } from "../../src/policy/templates.js";

export const SUBSCRIPTION_ID = "00000000-1111-2222-3333-444444444444";
export const TENANT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
export const PRINCIPAL_ID = "99999999-8888-7777-6666-555555555555";

/** The sample configuration, resolved as setup resolves it; `patch` edits the raw form first. */
export function sampleConfig(patch: (raw: Record<string, any>) => void = () => {}): Config {
  const raw: Record<string, any> = { ...sandboxSampleConfig(), subscriptionId: SUBSCRIPTION_ID, tenantId: TENANT_ID };
  patch(raw);
  return resolveConfig(raw);
}

export const SAMPLE = (() => {
  const c = sampleConfig();
  return { resourceGroup: c.resourceGroup, apim: c.apim.name, namespace: c.telemetry.namespace, eventHub: c.telemetry.eventHub, apiId: c.gateway.apiId };
})();

/** What the apim step tells later steps once the instance is ready with its identity. */
export const READY_APIM: StepOutputs = { ready: "true", principalId: PRINCIPAL_ID, serviceId: `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${SAMPLE.resourceGroup}/providers/Microsoft.ApiManagement/service/${SAMPLE.apim}` };

let templates: TemplateSet | undefined;

/** A plan input over the sample configuration, the public cloud and aeg's own templates. */
export async function planInput(over: { config?: Config; outputs?: Partial<Record<StepId, StepOutputs>>; options?: Partial<RunOptions> } = {}): Promise<PlanInput> {
  templates ??= await loadTemplates();
  return {
    config: over.config ?? sampleConfig(),
    cloud: cloudProfile({ name: "AzureCloud" }),
    templates,
    outputs: over.outputs ?? { apim: READY_APIM },
    options: { recoverSoftDeleted: false, purgeSoftDeleted: false, ...over.options },
  };
}

/** The changes a plan holds that write, as `[action, resource]` pairs: what the tables compare. */
export function writes(changes: Array<{ action: string; resource: string }>): Array<[string, string]> {
  return changes.filter((c) => c.action !== "ok").map((c) => [c.action, c.resource]);
}
