import { z } from "zod";
import { agentSlug } from "../policy/agent-slug.js";

/**
 * The aeg.yaml schema. Every field a step needs is here, so a bad file fails before any request,
 * with one line per problem naming the field path.
 */
const guid = () => z.guid({ error: "not a GUID" });
const nonEmpty = () => z.string({ error: "required text" }).trim().min(1, { error: "must not be empty" });

// APIM's own rules (enforced by ARM and the SDK): see reference/azure-arm-apim-eventhub.md §2.
const apimServiceName = nonEmpty()
  .max(50, { error: "at most 50 characters" })
  .regex(/^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/, {
    error: "letters, digits and hyphens, starting with a letter and not ending with a hyphen",
  });
const apimChildId = nonEmpty()
  .max(80, { error: "at most 80 characters" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, { error: "letters, digits, '-' and '_' only" });

/**
 * The clouds aeg knows, the one list: Azure's three (profiles in src/azure/cloud.ts), `custom` (an
 * Azure Stack Hub, a private cloud) and `sandbox` (aeg's embedded local tenant).
 */
export const CLOUD_NAMES = ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud", "custom", "sandbox"] as const;
export type CloudName = (typeof CLOUD_NAMES)[number];
const cloudName = z.enum(CLOUD_NAMES);

const cloud = z
  .object({
    name: cloudName.default("AzureCloud"),
    // Only for name: custom (an Azure Stack Hub, a private cloud) or sandbox (`aeg sandbox start`).
    resourceManager: z.url({ error: "not a URL" }).optional(),
    authority: z.url({ error: "not a URL" }).optional(),
    graph: z.url({ error: "not a URL" }).optional(),
    /** Audience of ARM tokens, e.g. https://management.azure.com/ */
    resourceManagerAudience: z.url({ error: "not a URL" }).optional(),
    /** A PEM file of extra CA certificates to trust (the sandbox's, or a TLS-inspecting proxy's). */
    caFile: nonEmpty().optional(),
    /** Where Event Hubs clients connect, when not to the namespace's own host (the sandbox, a private endpoint). */
    eventHubsEndpoint: z.string().regex(/^(sb|amqps|https):\/\//, { error: "an sb://, amqps:// or https:// URL" }).optional(),
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
    clientSecretFile: nonEmpty().optional(),
  })
  .strict();

const agent = z
  .object({
    id: nonEmpty().max(200, { error: "at most 200 characters" }),
    audienceGroupId: guid(),
    /** The API operation bound to this agent; default: the agent's slug. */
    operationId: apimChildId.optional(),
    /** Copilot Studio schema name (bot.schemaname), for the agent precondition check. */
    schemaName: nonEmpty().optional(),
    /** Environment holding the agent's bot row; default: dataverse.url. */
    environmentUrl: z.url({ error: "not a URL" }).optional(),
  })
  .strict();

const gateway = z
  .object({
    /** Accepted token audiences: the App ID URI and/or the client id GUID of the gateway app. */
    audiences: z.array(nonEmpty(), { error: "a list of audiences" }).min(1, { error: "at least one audience" }).max(2, { error: "at most two audiences (App ID URI and client id)" }),
    policyVersion: nonEmpty().max(50, { error: "at most 50 characters" }),
    channel: z.enum(["custom-web", "direct-line"], { error: "custom-web or direct-line" }),
    apiId: apimChildId.default("aeg-gateway"),
    apiDisplayName: nonEmpty().default("Agent Eligibility Gateway"),
    apiPath: nonEmpty()
      .max(400, { error: "at most 400 characters" })
      .regex(/^[A-Za-z0-9][A-Za-z0-9/_.-]*$/, { error: "a relative URL path without a leading '/'" }),
    backendUrl: z.url({ error: "not a URL" }),
    /** What an unknown pathway means: the seed's default (allow, flagged) or deny. */
    unknownPathway: z.enum(["allow-anomaly", "deny"], { error: "allow-anomaly or deny" }).default("allow-anomaly"),
    /** How long the policy waits for a governance-store or Graph read before failing closed (503). */
    storeTimeoutSeconds: z.int({ error: "a whole number" }).min(1, { error: "at least 1" }).max(60, { error: "at most 60" }).default(10),
  })
  .strict();

const apim = z
  .object({
    name: apimServiceName,
    sku: z
      .enum(["Developer", "Basic", "Standard", "Premium", "Consumption", "BasicV2", "StandardV2", "PremiumV2"], {
        error: "one of Developer, Basic, Standard, Premium, Consumption, BasicV2, StandardV2, PremiumV2",
      })
      .default("Developer"),
    capacity: z.int({ error: "a whole number" }).min(0).max(12).optional(),
    publisherName: nonEmpty().max(100, { error: "at most 100 characters" }),
    publisherEmail: z.email({ error: "not an email address" }),
  })
  .strict();

const secretSource = z
  .object({
    /** Read the secret from this file. */
    fromFile: nonEmpty().optional(),
    /** Read the secret from this environment variable. */
    fromEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "an environment variable name" }).optional(),
  })
  .strict()
  .refine((s) => Boolean(s.fromFile) !== Boolean(s.fromEnv), { error: "set exactly one of fromFile or fromEnv" });

const telemetry = z
  .object({
    namespace: nonEmpty()
      .min(6, { error: "at least 6 characters" })
      .max(50, { error: "at most 50 characters" })
      .regex(/^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$/, { error: "letters, digits and hyphens, starting with a letter" }),
    eventHub: nonEmpty().max(256),
    sku: z.enum(["Basic", "Standard", "Premium"], { error: "Basic, Standard or Premium" }).default("Standard"),
    partitionCount: z.int({ error: "a whole number" }).min(1).max(32).default(4),
    messageRetentionInDays: z.int({ error: "a whole number" }).min(1).max(7).default(1),
    loggerId: apimChildId.default("aeg-decision-logger"),
    /** Only when managed identity cannot be used: the Event Hub connection string, from a file or variable. */
    connectionString: secretSource.optional(),
  })
  .strict();

const DENY_REASONS = ["None", "JwtValidationFailed", "MissingRequiredClaim", "OutOfPolicyAudience", "NotInEligibleCohort", "AgentNonCompliant", "GovernanceStoreUnavailable"] as const;

/** Where a validation caller's access token comes from. Never the token itself in the file. */
const callerToken = z.discriminatedUnion(
  "from",
  [
    z.object({ from: z.literal("env"), variable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "an environment variable name" }) }).strict(),
    z.object({ from: z.literal("file"), path: nonEmpty() }).strict(),
    z.object({ from: z.literal("command"), command: nonEmpty() }).strict(),
    z.object({ from: z.literal("interactive"), loginHint: nonEmpty(), clientId: guid().optional() }).strict(),
  ],
  { error: "from: env, file, command or interactive" },
);

const scenario = z
  .object({
    name: nonEmpty().max(100),
    /** The agent (its operation) to call. */
    agent: nonEmpty(),
    /** A caller's token, or a token-failure case that needs no caller. */
    caller: callerToken.optional(),
    token: z.enum(["none", "malformed", "forged", "other-tenant"], { error: "none, malformed, forged or other-tenant" }).optional(),
    expect: z
      .object({
        status: z.union([z.literal(200), z.literal(401), z.literal(403), z.literal(503)], { error: "200, 401, 403 or 503" }),
        denyReason: z.enum(DENY_REASONS, { error: `one of ${DENY_REASONS.join(", ")}` }).default("None"),
        anomaly: z.boolean().default(false),
      })
      .strict(),
  })
  .strict()
  .refine((s) => Boolean(s.caller) !== Boolean(s.token), { error: "set exactly one of caller or token" });

const validation = z
  .object({
    /** How long to wait for each decision record to arrive. */
    deadlineSeconds: z.int().min(1).max(600).default(60),
    consumerGroup: nonEmpty().default("$Default"),
    /** Also require each record in fsi_aegdecisionlog (written by `aeg sink`); default: when the decision log is enabled. */
    checkDecisionLog: z.boolean().optional(),
    /** Empty: on a sandbox tenant, its personas; elsewhere there is nothing to validate. */
    scenarios: z.array(scenario).default([]),
  })
  .strict();

const dataverse = z
  .object({
    /** Environment URL of the governance store, e.g. https://org.crm.dynamics.com */
    url: z.url({ error: "not a URL" }),
    /** The least-privilege security role step 5 creates in the root business unit. */
    roleName: nonEmpty().max(100, { error: "at most 100 characters" }).default("AEG Gateway Reader"),
    decisionLog: z.object({ enabled: z.boolean().default(false) }).strict().default({ enabled: false }),
  })
  .strict();

export const ConfigSchema = z
  .object({
    subscriptionId: guid(),
    tenantId: guid(),
    resourceGroup: nonEmpty()
      .max(90, { error: "at most 90 characters" })
      .regex(/^[-\w._()]*[-\w_()]$/, { error: "letters, digits, '-', '_', '.', '(' and ')', not ending with '.'" }),
    location: nonEmpty(),
    cloud: cloud.default({ name: "AzureCloud" }),
    auth: auth.default({}),
    apim,
    gateway,
    agents: z.array(agent, { error: "a list of agents" }).min(1, { error: "at least one agent" }),
    telemetry,
    dataverse,
    graphFallback: z.object({ enabled: z.boolean().default(false) }).strict().default({ enabled: false }),
    validation: validation.optional(),
    /** A modified copy of aeg's templates/ to upload instead (relative to this file). */
    templatesDir: nonEmpty().optional(),
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
  });

export type Config = z.infer<typeof ConfigSchema>;
export type AgentConfig = Config["agents"][number];
export type ValidationScenario = z.infer<typeof scenario>;
