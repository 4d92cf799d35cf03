import type { NamedValueContract } from "@azure/arm-apimanagement";
import { diffFields } from "../engine/plan.js";
import { blocked, inSync, seen, type Change } from "../engine/change.js";
import { defineStep } from "../engine/step.js";
import { ExitCode } from "../errors.js";
import { AEG_NAMED_VALUES, desiredNamedValues } from "../policy/named-values.js";
import { APIM_LIMITS, agentsThatFit, type ApimSku } from "./apim-limits.js";
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
  sku: ApimSku;
  agents: number;
  /** A connection-string logger: APIM keeps the string in a named value of its own. */
  loggerSecret: boolean;
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
    sku: input.config.apim.sku,
    agents: input.config.agents.length,
    loggerSecret: input.config.telemetry.connectionString !== undefined,
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
    const full = beyondLimit(desired, found);
    return [...(full ? [full] : []), ...desired.values.map(({ id, body }): Change<NamedValueOp> => {
      const live = found.get(id.toLowerCase());
      const resource = `namedValues/${id}`;
      const observed = live ? { displayName: live.displayName, value: live.value, secret: live.secret ?? false, tags: live.tags ?? [] } : undefined;
      const fields = diffFields({ ...body }, observed);
      if (live && fields.length === 0) return inSync(resource, live);
      // Named values are independent of each other: APIM writes them side by side (APIOps does too).
      return { action: live ? "update" : "create", resource, fields: live ? fields : [{ field: "value", to: body.value }], apimWrite: true, after: [], op: { id, body }, seen: seen(live) };
    })];
  },

  async apply(ctx, { op }) {
    await ctx.clients.apim.namedValue.beginCreateOrUpdateAndWait(ctx.config.resourceGroup, ctx.config.apim.name, op.id, op.body, { updateIntervalInMs: ctx.pollIntervalMs });
  },

  outputs: () => ({}),
});

/**
 * The instance's named values after this run, against its tier's limit: values aeg does not use
 * (someone else's, or those of agents no longer configured, which go only after the API stops
 * naming them) still count while aeg's are written.
 */
function beyondLimit(desired: DesiredNamedValues, found: Map<string, NamedValueContract>): Change<never> | undefined {
  const ours = new Set(desired.values.map((v) => v.id.toLowerCase()));
  const others = [...found.keys()].filter((id) => !ours.has(id)).length;
  const secretToCome = desired.loggerSecret && ![...found.keys()].some((id) => id.startsWith("logger-credentials-")) ? 1 : 0;
  const limits = APIM_LIMITS[desired.sku];
  const total = desired.values.length + others + secretToCome;
  if (total <= limits.namedValues) return undefined;
  const globals = desired.values.length - desired.agents * AEG_NAMED_VALUES.perAgentPrefixes.length;
  const fit = agentsThatFit(limits, AEG_NAMED_VALUES.perAgentPrefixes.length, globals + secretToCome, { namedValues: others, operations: 0 });
  return blocked(
    "namedValues",
    `agents: ${desired.agents} agents need ${desired.values.length} named values (${AEG_NAMED_VALUES.perAgentPrefixes.length} each and ${globals} shared)` +
      `${others ? ` beside the ${others} already there` : ""}; the ${desired.sku} tier of API Management holds ${limits.namedValues} per instance: at most ${fit} agents fit`,
    ExitCode.usage,
    `Configure at most ${fit} agents${others ? ", delete named values no longer used" : ""}, or choose an apim.sku that holds more (Standard: ${APIM_LIMITS.Standard.namedValues}; Premium: ${APIM_LIMITS.Premium.namedValues}).`,
  );
}
