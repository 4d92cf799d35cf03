import type { NamedValueContract } from "@azure/arm-apimanagement";
import { diffFields } from "../engine/plan.js";
import { inSync, seen, type Change } from "../engine/change.js";
import { defineStep } from "../engine/step.js";
import { desiredNamedValues } from "../policy/named-values.js";
import { apimReady } from "./apim-state.js";
import { AEG_NAMED_VALUE_TAG } from "./ownership.js";

interface NamedValueBody {
  displayName: string;
  value: string;
  secret: boolean;
  tags: string[];
}

interface DesiredNamedValues {
  ready: boolean;
  values: Array<{ id: string; body: NamedValueBody }>;
}

type NamedValueOp = { id: string; body: NamedValueBody };

const TAGS = [AEG_NAMED_VALUE_TAG];

/** Seed step 2: the global named values and one pair per agent (see policy/named-values.ts). */
export const namedValuesStep = defineStep<DesiredNamedValues, Map<string, NamedValueContract>, NamedValueOp>({
  id: "named-values",
  title: "Named values",
  needs: ["apim"],

  desired: (input) => ({
    ready: apimReady(input),
    values: desiredNamedValues(input.config, input.cloud).map(({ id, value }) => ({ id, body: { displayName: id, value, secret: false, tags: TAGS } })),
  }),

  async observe(ctx, desired) {
    const found = new Map<string, NamedValueContract>();
    if (!desired.ready) return found;
    // One paged list instead of a read per value.
    for await (const nv of ctx.clients.apim.namedValue.listByService(ctx.config.resourceGroup, ctx.config.apim.name)) {
      if (nv.name) found.set(nv.name.toLowerCase(), nv);
    }
    return found;
  },

  plan(desired, found) {
    return desired.values.map(({ id, body }): Change<NamedValueOp> => {
      const live = found.get(id.toLowerCase());
      const resource = `namedValues/${id}`;
      const observed = live ? { displayName: live.displayName, value: live.value, secret: live.secret ?? false, tags: live.tags ?? [] } : undefined;
      const fields = diffFields({ ...body }, observed);
      if (live && fields.length === 0) return inSync(resource, live);
      // Named values are independent of each other: APIM writes them side by side (APIOps does too).
      return { action: live ? "update" : "create", resource, fields: live ? fields : [{ field: "value", to: body.value }], apimWrite: true, after: [], op: { id, body }, seen: seen(live) };
    });
  },

  async apply(ctx, { op }) {
    await ctx.clients.apim.namedValue.beginCreateOrUpdateAndWait(ctx.config.resourceGroup, ctx.config.apim.name, op.id, op.body, { updateIntervalInMs: ctx.pollIntervalMs });
  },

  outputs: () => ({}),
});
