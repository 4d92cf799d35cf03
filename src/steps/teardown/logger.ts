import type { LoggerContract } from "@azure/arm-apimanagement";
import { orMissing } from "../../azure/errors.js";
import { inSync } from "../../engine/change.js";
import { defineStep } from "../../engine/step.js";
import { childrenReadable, leftToItsOwner, observeGateway, someoneElses, type GatewayObserved } from "./gateway.js";

export interface LoggerObserved {
  gateway: GatewayObserved;
  logger?: LoggerContract;
}

/** The decision logger, last of the children: the eligibility fragment logs through it. */
export const removeLoggerStep = defineStep<{ id: string }, LoggerObserved, { id: string }>({
  id: "remove-logger",
  title: "Decision logger",
  needs: ["remove-named-values"],

  desired: ({ config }) => ({ id: config.telemetry.loggerId }),

  async observe(ctx, { id }) {
    const gateway = await observeGateway(ctx);
    if (!childrenReadable(gateway)) return { gateway };
    const logger = await orMissing(ctx.clients.apim.logger.get(ctx.config.resourceGroup, ctx.config.apim.name, id));
    return { gateway, ...(logger ? { logger } : {}) };
  },

  plan({ id }, { gateway, logger }) {
    const resource = `loggers/${id}`;
    if (someoneElses(gateway)) return [leftToItsOwner(resource)];
    if (!logger) return [inSync(resource)];
    return [{ action: "delete", resource, fields: [{ field: "loggerType", from: logger.loggerType, to: null }], apimWrite: true, op: { id } }];
  },

  async apply(ctx, { op }) {
    await ctx.clients.apim.logger.delete(ctx.config.resourceGroup, ctx.config.apim.name, op.id, "*");
  },

  outputs: () => ({}),
});
