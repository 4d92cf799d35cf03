import { z } from "zod";
import { agentSlug } from "../policy/agent-slug.js";
import * as rule from "./rules.js";
const { guid, text } = rule;

/**
 * The aeg.yaml schema. Every field a step needs is here, so a bad file fails before any request,
 * with one line per problem naming the field path. The rules and their sources are in rules.ts.
 */
/**
 * The clouds aeg knows, the one list: Azure's three (profiles in src/azure/cloud.ts), `custom` (an
 * Azure Stack Hub, a private cloud) and `sandbox` (aeg's embedded local tenant).
 */
export const CLOUD_NAMES = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud", "custom", "sandbox"] as const;
export type CloudName = (typeof CLOUD_NAMES)[number];
const cloudName = z.enum(CLOUD_NAMES, { error: CLOUD_NAMES.join(", ").replace(/, (?=[^,]*$)/, " or ") });

const cloud = z
  .object({
    name: cloudName.default("AzureCloud"),
    // Only for name: custom (an Azure Stack Hub, a private cloud) or sandbox (`aeg sandbox start`).
    resourceManager: rule.serviceRoot().optional(),
    authority: rule.httpsUrl().optional(),
    graph: rule.serviceRoot().optional(),
    /** Audience of ARM tokens, e.g. https://management.azure.com/ */
    resourceManagerAudience: rule.httpsUrl().optional(),
    /** A PEM file of extra CA certificates to trust (the sandbox's, or a TLS-inspecting proxy's). */
    caFile: rule.filePath().optional(),
    /** Where Event Hubs clients connect, when not to the namespace's own host (the sandbox, a private endpoint). */
    eventHubsEndpoint: rule.url({ schemes: ["sb", "amqps", "https"], originOnly: true }).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.name !== "custom" && c.name !== "sandbox") return;
    for (const key of ["resourceManager", "authority"] as const) {
      if (!c[key]) ctx.addIssue({ code: "custom", path: [key], message: `required when cloud.name is ${c.name}` });
    }
  });

const auth = z
  .object({
    /** App (client) id of a service principal or user-assigned identity; default: DefaultAzureCredential picks. */
    clientId: guid().optional(),
    /** A file holding the client secret. Never the secret itself: aeg.yaml is meant to be committed. */
    clientSecretFile: rule.filePath().optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    // A secret is for one application: without its id, Entra cannot tell whose it is.
    if (a.clientSecretFile && !a.clientId) ctx.addIssue({ code: "custom", path: ["clientId"], message: "required when auth.clientSecretFile is set (the application the secret belongs to)" });
  });

const agent = z
  .object({
    id: rule.agentId(),
    audienceGroupId: guid(),
    /** The API operation bound to this agent; default: the agent's slug. ARM: OperationIdParameter, 1-80. */
    operationId: rule.apimEntityId(80).optional(),
    /** Copilot Studio schema name (bot.schemaname), for the agent precondition check. */
    schemaName: rule.botSchemaName().optional(),
    /** Environment holding the agent's bot row; default: dataverse.url. */
    environmentUrl: rule.serviceRoot().optional(),
  })
  .strict();

const gateway = z
  .object({
    /** Accepted token audiences: the App ID URI and/or the client id GUID of the gateway app. */
    audiences: z.array(rule.audience(), { error: "a list of audiences" }).min(1, { error: "at least one audience" }).max(2, { error: "at most two audiences (App ID URI and client id)" }),
    policyVersion: rule.policyVersion(),
    channel: z.enum(["custom-web", "direct-line"], { error: "custom-web or direct-line" }),
    // ARM: ApiIdParameter, 1-80, less the "-<n>" of the APIs agents spread over (steps/api-shards.ts).
    apiId: rule.apimEntityId(76).default("aeg-gateway"),
    // ARM: ApiContractProperties.displayName, 1-300.
    apiDisplayName: text(300).default("Agent Eligibility Gateway"),
    apiPath: rule.apiPath(),
    backendUrl: rule.backendUrl(),
    /** What an unknown pathway means: the seed's default (allow, flagged) or deny. */
    unknownPathway: z.enum(["allow-anomaly", "deny"], { error: "allow-anomaly or deny" }).default("allow-anomaly"),
    /** How long the policy waits for a governance-store or Graph read before failing closed (503). */
    storeTimeoutSeconds: z.int({ error: "a whole number" }).min(1, { error: "at least 1" }).max(60, { error: "at most 60" }).default(10),
  })
  .strict();

const APIM_SKUS = ["Developer", "Basic", "Standard", "Premium", "Consumption", "BasicV2", "StandardV2", "PremiumV2"] as const;
// Units per SKU: Consumption has none (it scales itself), Developer cannot scale; the others' limits
// are API Management's published scale limits (pricing page; "v2 tiers overview": up to 10 units).
const APIM_MAX_UNITS: Record<(typeof APIM_SKUS)[number], number> = { Consumption: 0, Developer: 1, Basic: 2, Standard: 4, Premium: 12, BasicV2: 10, StandardV2: 10, PremiumV2: 12 };

const apim = z
  .object({
    name: rule.apimServiceName(),
    sku: z.enum(APIM_SKUS, { error: `one of ${APIM_SKUS.join(", ")}` }).default("Developer"),
    capacity: z.int({ error: "a whole number" }).min(0, { error: "at least 0" }).max(12, { error: "at most 12" }).optional(),
    // ARM: ApiManagementServiceProperties.publisherName and publisherEmail, at most 100 each.
    publisherName: text(100),
    publisherEmail: z.email({ error: (iss) => (iss.input === undefined ? "required" : "not an email address") }).max(100, { error: "at most 100 characters" }),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.capacity === undefined) return;
    const max = APIM_MAX_UNITS[a.sku];
    if (a.sku === "Consumption" && a.capacity !== 0) ctx.addIssue({ code: "custom", path: ["capacity"], message: "must be 0 for the Consumption tier (it scales itself)" });
    else if (a.sku !== "Consumption" && a.capacity < 1) ctx.addIssue({ code: "custom", path: ["capacity"], message: `at least 1 unit for the ${a.sku} tier` });
    else if (a.capacity > max) ctx.addIssue({ code: "custom", path: ["capacity"], message: `at most ${max} unit${max === 1 ? "" : "s"} for the ${a.sku} tier` });
  });

const secretSource = z
  .object({
    /** Read the secret from this file. */
    fromFile: rule.filePath().optional(),
    /** Read the secret from this environment variable. */
    fromEnv: rule.envVarName().optional(),
  })
  .strict()
  .refine((s) => Boolean(s.fromFile) !== Boolean(s.fromEnv), { error: "set exactly one of fromFile or fromEnv" });

const EH_SKUS = ["Basic", "Standard", "Premium"] as const;
// Per event hub, from "Azure Event Hubs quotas and limits": partitions 32 (Basic, Standard) or
// 100 (Premium); retention 1 day (Basic), 7 (Standard) or 90 (Premium).
// Consumer groups per event hub, same source: 1 on Basic (only $Default), 20 on Standard, 100 on
// Premium (learn.microsoft.com/azure/event-hubs/event-hubs-quotas).
const EH_LIMITS: Record<(typeof EH_SKUS)[number], { partitions: number; retentionDays: number; consumerGroups: number }> = {
  Basic: { partitions: 32, retentionDays: 1, consumerGroups: 1 },
  Standard: { partitions: 32, retentionDays: 7, consumerGroups: 20 },
  Premium: { partitions: 100, retentionDays: 90, consumerGroups: 100 },
};

/** The consumer group `aeg sink` reads when `telemetry.sinkConsumerGroup` is not set (and the tier allows one). */
export const DEFAULT_SINK_CONSUMER_GROUP = "aeg-sink";

/**
 * The consumer group the sink reads: its own, so that readers without an epoch (aeg validate) may
 * read the hub beside it; `$Default` on Basic, the only group that tier has.
 */
export function sinkConsumerGroup(telemetry: Pick<Config["telemetry"], "sku" | "sinkConsumerGroup">): string {
  return telemetry.sinkConsumerGroup ?? (EH_LIMITS[telemetry.sku].consumerGroups > 1 ? DEFAULT_SINK_CONSUMER_GROUP : "$Default");
}

const telemetry = z
  .object({
    namespace: rule.eventHubsNamespace(),
    eventHub: rule.eventHubName(),
    sku: z.enum(EH_SKUS, { error: "Basic, Standard or Premium" }).default("Standard"),
    partitionCount: z.int({ error: "a whole number" }).min(1, { error: "at least 1" }).max(100, { error: "at most 100" }).default(4),
    messageRetentionInDays: z.int({ error: "a whole number" }).min(1, { error: "at least 1" }).max(90, { error: "at most 90" }).default(1),
    // ARM: LoggerIdParameter, up to 256.
    loggerId: rule.apimEntityId(256).default("aeg-decision-logger"),
    /** The consumer group setup creates for aeg sink (default aeg-sink; $Default on Basic): see sinkConsumerGroup(). */
    sinkConsumerGroup: rule.consumerGroup().optional(),
    /** Only when managed identity cannot be used: the Event Hub connection string, from a file or variable. */
    connectionString: secretSource.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const limits = EH_LIMITS[t.sku];
    if (t.partitionCount > limits.partitions) ctx.addIssue({ code: "custom", path: ["partitionCount"], message: `at most ${limits.partitions} for the ${t.sku} tier` });
    if (t.messageRetentionInDays > limits.retentionDays) ctx.addIssue({ code: "custom", path: ["messageRetentionInDays"], message: `at most ${limits.retentionDays} day${limits.retentionDays === 1 ? "" : "s"} for the ${t.sku} tier` });
    if (limits.consumerGroups === 1 && t.sinkConsumerGroup !== undefined && t.sinkConsumerGroup !== "$Default") {
      ctx.addIssue({ code: "custom", path: ["sinkConsumerGroup"], message: `the ${t.sku} tier has only $Default (leave it unset, or choose telemetry.sku Standard)` });
    }
  });

const DENY_REASONS = ["None", "JwtValidationFailed", "MissingRequiredClaim", "OutOfPolicyAudience", "NotInEligibleCohort", "AgentNonCompliant", "GovernanceStoreUnavailable"] as const;

/** Where a validation caller's access token comes from. Never the token itself in the file. */
const callerToken = z.discriminatedUnion(
  "from",
  [
    z.object({ from: z.literal("env"), variable: rule.envVarName() }).strict(),
    z.object({ from: z.literal("file"), path: rule.filePath() }).strict(),
    z.object({ from: z.literal("command"), command: text(4096) }).strict(),
    // A login hint is the account's UPN or email address.
    z.object({ from: z.literal("interactive"), loginHint: text(256), clientId: guid().optional() }).strict(),
  ],
  { error: "from: env, file, command or interactive" },
);

const scenario = z
  .object({
    name: text(100),
    /** The agent (its operation) to call: one of agents[].id. */
    agent: rule.agentId(),
    /** A caller's token, or a token-failure case that needs no caller. */
    caller: callerToken.optional(),
    token: z.enum(["none", "malformed", "forged", "other-tenant"], { error: "none, malformed, forged or other-tenant" }).optional(),
    expect: z
      .object({
        status: z.union([z.literal(200), z.literal(401), z.literal(403), z.literal(503)], { error: "200, 401, 403 or 503" }),
        denyReason: z.enum(DENY_REASONS, { error: `one of ${DENY_REASONS.join(", ")}` }).default("None"),
        anomaly: z.boolean({ error: "true or false" }).default(false),
      })
      .strict(),
  })
  .strict()
  .refine((s) => Boolean(s.caller) !== Boolean(s.token), { error: "set exactly one of caller or token" });

const validation = z
  .object({
    /** How long to wait for each decision record to arrive. */
    deadlineSeconds: z.int({ error: "a whole number" }).min(1, { error: "at least 1" }).max(600, { error: "at most 600" }).default(60),
    consumerGroup: rule.consumerGroup().default("$Default"),
    /** Also require each record in fsi_aegdecisionlog (written by `aeg sink`); default: when the decision log is enabled. */
    checkDecisionLog: z.boolean({ error: "true or false" }).optional(),
    /** Empty: on a sandbox tenant, its personas; elsewhere there is nothing to validate. */
    scenarios: z.array(scenario, { error: "a list of scenarios" }).default([]),
  })
  .strict();

const dataverse = z
  .object({
    /** Environment URL of the governance store, e.g. https://org.crm.dynamics.com */
    url: rule.serviceRoot(),
    /** The least-privilege security role step 5 creates in the root business unit (Dataverse role name: at most 100). */
    roleName: text(100).default("AEG Gateway Reader"),
    decisionLog: z.object({ enabled: z.boolean({ error: "true or false" }).default(false) }).strict().default({ enabled: false }),
  })
  .strict();

export const ConfigSchema = z
  .object({
    subscriptionId: guid(),
    tenantId: guid(),
    resourceGroup: rule.resourceGroupName(),
    location: rule.location(),
    cloud: cloud.default({ name: "AzureCloud" }),
    auth: auth.default({}),
    apim,
    gateway,
    agents: z.array(agent, { error: "a list of agents" }).min(1, { error: "at least one agent" }),
    telemetry,
    dataverse,
    graphFallback: z.object({ enabled: z.boolean({ error: "true or false" }).default(false) }).strict().default({ enabled: false }),
    validation: validation.optional(),
    /** A modified copy of aeg's templates/ to upload instead (relative to this file). */
    templatesDir: rule.filePath().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Named values and operations are keyed on the agent's slug: two agents must not share one.
    const slugs = new Map<string, number>();
    const operations = new Map<string, number>();
    c.agents.forEach((a, i) => {
      let slug: string;
      try {
        slug = agentSlug(a.id);
      } catch {
        ctx.addIssue({ code: "custom", path: ["agents", i, "id"], message: "needs at least one letter or digit" });
        return;
      }
      const prior = slugs.get(slug);
      if (prior !== undefined) ctx.addIssue({ code: "custom", path: ["agents", i, "id"], message: `same slug '${slug}' as agents[${prior}].id` });
      slugs.set(slug, i);
      const op = (a.operationId ?? slug).toLowerCase();
      const priorOp = operations.get(op);
      if (priorOp !== undefined && prior === undefined) ctx.addIssue({ code: "custom", path: ["agents", i, "operationId"], message: `same operation as agents[${priorOp}]` });
      operations.set(op, i);
    });
    // A scenario calls an agent's operation: one that is not configured has none.
    const ids = new Set(c.agents.map((a) => a.id));
    c.validation?.scenarios.forEach((s, i) => {
      if (!ids.has(s.agent)) ctx.addIssue({ code: "custom", path: ["validation", "scenarios", i, "agent"], message: `'${s.agent}' is not one of agents[].id` });
    });
  });

export type Config = z.infer<typeof ConfigSchema>;
export type AgentConfig = Config["agents"][number];
export type ValidationScenario = z.infer<typeof scenario>;
