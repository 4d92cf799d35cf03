import { orMissing } from "../azure/errors.js";
import type { Change, Step } from "../engine/types.js";
import { FRAGMENT_IDS, type FragmentId, type TemplateSet } from "../policy/templates.js";
import { APIM_ROLE, apimReady, serviceName } from "./apim-context.js";
import { policyChange } from "./policy-change.js";
import { POLICY_FORMAT } from "./policy-format.js";
import { assertTemplatesValid } from "./template-lint.js";

const DESCRIPTIONS: Record<FragmentId, string> = {
  "aeg-validate-jwt": "AEG: validates the Entra ID token (v1 and v2), pins the tenant, requires upn",
  "aeg-eligibility-check": "AEG: audience gate, compliance and entitlement reads, one decision record",
};

/** Seed step 3: the policy fragments, uploaded from templates/ (format: see policy-format.ts). */
export function fragmentsStep(templates: TemplateSet): Step<Map<string, string>> {
  return {
    id: "fragments",
    title: "Policy fragments",
    // The fragments name named values and the logger: APIM rejects them until those exist.
    needs: ["named-values", "telemetry"],
    requiredRole: APIM_ROLE,

    async observe(ctx) {
      const found = new Map<string, string>();
      if (!apimReady(ctx)) return found;
      await Promise.all(
        FRAGMENT_IDS.map(async (id) => {
          const fragment = await orMissing(ctx.arm.apim.policyFragment.get(ctx.config.resourceGroup, serviceName(ctx), id, { format: POLICY_FORMAT }));
          if (fragment) found.set(id, fragment.value ?? "");
        }),
      );
      return found;
    },

    plan(ctx, found): Change[] {
      assertTemplatesValid(templates, ctx);
      return FRAGMENT_IDS.map((id) => {
        const xml = templates.fragments[id];
        return policyChange(`policyFragments/${id}`, xml, found.get(id), async (c) => {
          await c.arm.apim.policyFragment.beginCreateOrUpdateAndWait(
            c.config.resourceGroup,
            serviceName(c),
            id,
            { value: xml, format: POLICY_FORMAT, description: DESCRIPTIONS[id] },
            { updateIntervalInMs: c.pollIntervalMs },
          );
        });
      });
    },

    outputs() {
      return {};
    },
  };
}
