import { z } from "zod";

/**
 * The rules a configuration value must meet, each from the service that will receive it, so a
 * value Azure, Entra or Dataverse would refuse (or a policy would choke on) fails before any
 * request, with the field's path. Where aeg is stricter than the service, it says why.
 */

/** Control characters (a pasted newline, a NUL) have no business in any setting. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Text: trimmed, not empty, at most `max` characters, no control characters. */
export const text = (max: number) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? "required" : "must be text (quote it in YAML if it looks like a number, date or boolean)") })
    .trim()
    .min(1, { error: "must not be empty", abort: true })
    .max(max, { error: `at most ${max} characters` })
    .refine((s) => !CONTROL.test(s), { error: "must not contain control characters (a line break, a tab, NUL)" });

/** Entra object and application ids, Azure subscription ids. */
export const guid = () => z.guid({ error: (iss) => (iss.input === undefined ? "required" : "not a GUID") });

/** A path to a local file or directory (checked for existence separately, before any write). */
export const filePath = () => text(4096);

// Resource group: 1-90 Unicode letters or digits, '_', '-', '.', '(' and ')', not ending in '.'.
// Source: "Naming rules and restrictions for Azure resources", Microsoft.Resources/resourcegroups.
export const resourceGroupName = () =>
  text(90).regex(/^[\p{L}\p{M}\p{N}_\-.()]*[\p{L}\p{M}\p{N}_\-()]$/u, { error: "letters, digits, '_', '-', '.', '(' and ')' only, not ending with '.'" });

// Region: ARM takes the name (westeurope) or the display name (West Europe). Nothing else can be
// one, and the name goes into ARM paths (deleted services are listed per location).
export const location = () => text(64).regex(/^[A-Za-z][A-Za-z0-9 ]*$/, { error: "an Azure region such as westeurope (letters, digits and spaces)" });

// APIM service name: 1-50, a letter first, letters, digits and hyphens, no hyphen last.
// Source: ARM spec apimanagement.json 2024-05-01, ServiceNameParameter.
export const apimServiceName = () =>
  text(50).regex(/^[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/, { error: "letters, digits and hyphens, starting with a letter and not ending with a hyphen" });

// APIM entity ids (API, operation, logger): the ARM spec allows anything but `*#&+:<>?` (ApiId and
// OperationId up to 80, LoggerId up to 256). aeg keeps to letters, digits, '-' and '_' because
// the id is also a URL segment and, for the logger, a named value spliced into policy XML.
export const apimEntityId = (max: number) =>
  text(max).regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, { error: "letters, digits, '-' and '_' only, starting with a letter or digit" });

// API path (URL suffix): up to 400 (ARM spec ApiContractProperties.path). Segments of URL-safe
// characters; no leading or trailing '/', no empty or dot segments, which APIM would normalise away.
export const apiPath = () =>
  text(400)
    .regex(/^[A-Za-z0-9_.~-]+(?:\/[A-Za-z0-9_.~-]+)*$/, { error: "a relative URL path such as agents or v1/agents: letters, digits, '-', '_', '.', '~' and '/' between segments" })
    .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), { error: "must not contain '.' or '..' segments" });

// Event Hubs namespace: 6-50, a letter first, letters, digits and hyphens, a letter or digit
// last, not ending in -sb or -mgmt. Source: Event Hubs "Create a namespace" naming rules, and
// the ARM spec's namespaceName parameter (6-50).
export const eventHubsNamespace = () =>
  text(50)
    .min(6, { error: "at least 6 characters" })
    .regex(/^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$/, { error: "letters, digits and hyphens, starting with a letter and ending with a letter or digit" })
    .refine((n) => !/-(sb|mgmt)$/i.test(n), { error: "must not end with -sb or -mgmt (Azure reserves them)" });

// Event hub and consumer group names: letters, digits, '.', '-', '_', a letter or digit first and
// last; hubs up to 256, consumer groups up to 50. Source: "Naming rules and restrictions for Azure
// resources", Microsoft.EventHub; ARM spec eventHubName (1-256), consumerGroupName (1-50).
const EH_ENTITY = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
export const eventHubName = () => text(256).regex(EH_ENTITY, { error: "letters, digits, '.', '-' and '_', starting and ending with a letter or digit" });
export const consumerGroup = () =>
  text(50).refine((g) => g === "$Default" || EH_ENTITY.test(g), { error: "$Default, or letters, digits, '.', '-' and '_', starting and ending with a letter or digit" });

/** An environment variable name (POSIX portable: what every shell can export). */
export const envVarName = () => z.string({ error: "an environment variable name" }).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "an environment variable name (letters, digits and '_', not starting with a digit)" });

interface UrlRule {
  schemes: string[];
  /** The service's root only (no path beyond '/'): ARM, Graph and Dataverse endpoints. */
  originOnly?: boolean;
  why?: string;
  max?: number;
}

/**
 * A URL with one of `schemes`, a host, no user name or password (a secret in the file), no
 * fragment. https everywhere aeg sends a token: the Azure SDKs refuse bearer tokens over http.
 */
export const url = (rule: UrlRule) =>
  text(rule.max ?? 2000).superRefine((value, ctx) => {
    // Endpoints end up in named values spliced into policy XML and C# strings: nothing to escape.
    if (/[\s"'<>{}\\^`|]/.test(value)) {
      ctx.addIssue({ code: "custom", message: "must not contain spaces, quotes, '<', '>', '{', '}', '|', '^', '`' or '\\' (percent-encode them)" });
      return;
    }
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `not a URL (expected ${rule.schemes.map((s) => `${s}://`).join(" or ")}…)` });
      return;
    }
    const scheme = u.protocol.replace(/:$/, "");
    if (!rule.schemes.includes(scheme)) {
      ctx.addIssue({ code: "custom", message: `${scheme}:// is not accepted: use ${rule.schemes.map((s) => `${s}://`).join(" or ")}${rule.why ? ` (${rule.why})` : ""}` });
      return;
    }
    if (!u.hostname) ctx.addIssue({ code: "custom", message: "has no host" });
    if (u.username || u.password) ctx.addIssue({ code: "custom", message: "must not hold a user name or password (aeg.yaml names secrets, never holds them)" });
    if (u.hash) ctx.addIssue({ code: "custom", message: "must not have a #fragment" });
    if (rule.originOnly && (u.pathname.replace(/\/+$/, "") !== "" || u.search)) {
      ctx.addIssue({ code: "custom", message: `must be the root URL only, e.g. ${scheme}://${u.host}` });
    }
  });

const NO_HTTP = "Azure SDKs refuse bearer tokens over http";

/** An endpoint aeg calls with a token: https, root only. */
export const serviceRoot = () => url({ schemes: ["https"], originOnly: true, why: NO_HTTP });

/** An https URL that may have a path (an authority, a token audience). */
export const httpsUrl = () => url({ schemes: ["https"], why: NO_HTTP });

// The API's backend (serviceUrl): up to 2000 characters (ARM spec ApiContractProperties). APIM
// takes http and https for an HTTP API; aeg asks for https because the gateway forwards the
// caller's request, bearer token included.
export const backendUrl = () => url({ schemes: ["https"], why: "the gateway forwards callers' tokens to it" });

// A token audience: the gateway app's client id (GUID) or its Application ID URI, which Entra
// accepts only with the api:// or https:// scheme, without query, fragment or wildcard. Source:
// "Restrictions on identifier URIs of Microsoft Entra applications". It is also spliced into the
// policy's <audience> element, so no XML-special characters.
export const audience = () =>
  text(256).refine(
    (a) => {
      if (z.guid().safeParse(a).success) return true;
      if (!/^(api|https):\/\/[^\s<>&"'{}*?#]+$/.test(a)) return false;
      try {
        return Boolean(new URL(a).hostname);
      } catch {
        return false;
      }
    },
    { error: "a client id (GUID) or an Application ID URI (api://… or https://…, no query, fragment or '*')" },
  );

// An agent id becomes a named value spliced into an XML attribute of the operation policy, and a
// string literal in the OData $filter the policy sends to Dataverse (fsi_agentid, String 200).
// Letters of any script, digits, spaces, '.', '_', ':' and '-' are safe in all three; quotes,
// '<', '&', '{' or '\\' would break the policy, and a leading '@' would even make APIM evaluate the
// named value as a policy expression.
export const agentId = () =>
  text(200).regex(/^[\p{L}\p{N}][\p{L}\p{M}\p{N} ._:-]*$/u, { error: "letters, digits, spaces, '.', '_', ':' and '-' only, starting with a letter or digit" });

// Policy version: a named value read inside a C# string literal in the policies, and the decision
// log's fsi_policyversion (String 50).
export const policyVersion = () => text(50).regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, { error: "letters, digits, '.', '_', '+' and '-' only, e.g. 2026.06.09" });

// Copilot Studio bot schema name (bot.schemaname): a publisher prefix, '_', and a name of letters
// and digits; looked up with an OData filter.
export const botSchemaName = () => text(100).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "a Copilot Studio schema name such as cr123_myAgent (letters, digits, '_', '.', '-')" });
