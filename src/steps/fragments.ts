import { orMissing } from "../azure/errors.js";
import { ordered } from "../engine/change.js";
import { defineStep } from "../engine/step.js";
import { POLICY_FORMAT } from "../policy/format.js";
import { policyChange, type StoredPolicy } from "../policy/policy-change.js";
import { FRAGMENT_IDS, includedFragments, type FragmentId } from "../policy/templates.js";
import { oversizedPolicy, type ApimSku } from "./apim-limits.js";
import { apimReady } from "./apim-state.js";

const DESCRIPTIONS: Record<FragmentId, string> = {
  "aeg-validate-jwt": "AEG: validates the Entra ID token (v1 and v2), pins the tenant, requires upn",
  "aeg-eligibility-check": "AEG: audience gate, compliance and entitlement reads, one decision record",
};

interface DesiredFragment {
  id: FragmentId;
  value: string;
  description: string;
}

/** Seed step 3: the policy fragments, uploaded from templates/ (format: see policy/format.ts). */
type FragmentOp = DesiredFragment & { ifMatch?: string };

export const fragmentsStep = defineStep<{ ready: boolean; fragments: DesiredFragment[]; sku: ApimSku }, Map<string, StoredPolicy>, FragmentOp>({
  id: "fragments",
  title: "Policy fragments",
  // The fragments name named values and the logger: APIM rejects them until those exist.
  needs: ["named-values", "telemetry"],

  desired: (input) => ({
    ready: apimReady(input),
    fragments: FRAGMENT_IDS.map((id) => ({ id, value: input.templates.fragments[id], description: DESCRIPTIONS[id] })),
    sku: input.config.apim.sku,
  }),

  async observe(ctx, desired) {
    const found = new Map<string, StoredPolicy>();
    if (!desired.ready) return found;
    await Promise.all(
      desired.fragments.map(async ({ id }) => {
        const fragment = await orMissing(ctx.clients.apim.policyFragment.get(ctx.config.resourceGroup, ctx.config.apim.name, id, { format: POLICY_FORMAT }));
        if (fragment) found.set(id, { value: fragment.value ?? "", ...(fragment.eTag ? { etag: fragment.eTag } : {}) });
      }),
    );
    return found;
  },

  // A fragment that includes another is written after it; the others side by side.
  plan: (desired, found) =>
    desired.fragments.map((fragment) =>
      ordered(oversizedPolicy(`policyFragments/${fragment.id}`, fragment.value, desired.sku, "fragment") ?? policyChange(`policyFragments/${fragment.id}`, fragment.value, found.get(fragment.id), fragment as FragmentOp), {
        after: includedFragments(fragment.value).map((id) => `policyFragments/${id}`),
      }),
    ),

  async apply(ctx, { op }) {
    await ctx.clients.apim.policyFragment.beginCreateOrUpdateAndWait(
      ctx.config.resourceGroup,
      ctx.config.apim.name,
      op.id,
      { value: op.value, format: POLICY_FORMAT, description: op.description },
      { updateIntervalInMs: ctx.pollIntervalMs, ...(op.ifMatch ? { ifMatch: op.ifMatch } : {}) },
    );
  },

  outputs: () => ({}),
});
