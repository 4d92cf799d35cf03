import { AggregateAuthenticationError, AuthenticationError, AuthenticationRequiredError, CredentialUnavailableError } from "@azure/identity";
import { ExitCode, PermissionError, UserError } from "../errors.js";
import { TransientRefusalError } from "./transient.js";

interface RestLike {
  statusCode?: number;
  code?: string;
  message: string;
  request?: { method?: string; url?: string };
  details?: { error?: { code?: string; message?: string; details?: Array<{ target?: string; message?: string }> } };
}

function isRest(err: unknown): err is RestLike {
  return typeof err === "object" && err !== null && "statusCode" in err && typeof (err as RestLike).statusCode === "number";
}

/** Azure's status code, or undefined when the error did not come from an HTTP answer. */
export function statusOf(err: unknown): number | undefined {
  return isRest(err) ? err.statusCode : undefined;
}

export function azureCode(err: unknown): string | undefined {
  if (!isRest(err)) return undefined;
  return err.code ?? err.details?.error?.code;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** A read that answers undefined for "not there" (404) and rethrows everything else. */
export async function orMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Turns what Azure or the credential chain threw into a one-line user error with the documented
 * exit code: 401/403 and missing credentials → 3 naming the role; anything else from Azure → 1.
 */
export function explainAzureError(err: unknown, what: string, requiredRole: string): Error {
  if (err instanceof UserError) return err;
  // DefaultAzureCredential tries a chain and throws the aggregate when every link is unavailable.
  if (err instanceof CredentialUnavailableError || err instanceof AuthenticationError || err instanceof AuthenticationRequiredError || err instanceof AggregateAuthenticationError) {
    return credentialError(err, what);
  }
  if (err instanceof TransientRefusalError) return stillRefused(err, what);
  const unreachable = unreachableEndpoint(err, what);
  if (unreachable) return unreachable;
  if (!isRest(err)) return err instanceof Error ? err : new Error(String(err));
  // ARM's ValidationError puts the useful part ("Error in element … line N") in details[].
  const inner = err.details?.error?.details?.map((d) => d.message).filter(Boolean) ?? [];
  const detail = firstLine([err.details?.error?.message ?? err.message, ...inner].join(" "));
  if (err.statusCode === 401) {
    return new PermissionError(`${what}: Azure rejected the credential (401 ${azureCode(err) ?? ""}): ${detail}`.replace("( ", "("), "Sign in again (az login) or check the tenant id.");
  }
  if (err.statusCode === 412) {
    // Only writes planned against an ETag send If-Match: the entity changed after aeg read it.
    return new UserError(`${what}: Azure refused the write (412 ${azureCode(err) ?? "PreconditionFailed"}): the resource changed after it was read`, ExitCode.drift, "Make a new plan (aeg plan), or run aeg setup again: it reads live state first.");
  }
  if (err.statusCode === 403) {
    return new PermissionError(`${what}: permission denied (403 ${azureCode(err) ?? "Forbidden"}): ${detail}`, `This step needs ${requiredRole}.`);
  }
  return new UserError(`${what}: Azure answered ${err.statusCode} ${azureCode(err) ?? ""}: ${detail}`.replace(" :", ":"), ExitCode.unexpected);
}

/** A "not now" answer that outlasted every retry: name the code, how often it was retried, what to do. */
function stillRefused(err: TransientRefusalError, what: string): UserError {
  const over = err.elapsedMs >= 1000 ? ` over ${Math.round(err.elapsedMs / 1000)} s` : "";
  const code = azureCode(err) ?? "";
  const kind = err.rule.name === code ? "" : ` (${err.rule.name})`;
  return new UserError(
    `${what}: Azure answered ${err.statusCode} ${code}${kind} and still did after ${err.retries} retries${over}: ${firstLine(err.message)}`,
    ExitCode.unexpected,
    err.rule.hint,
  );
}

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}

/** Entra refused the sign-in: exit 3, naming the setting to fix when Entra says which one. */
function credentialError(err: Error, what: string): PermissionError {
  const text = err.message;
  // AADSTS codes: 7000215 invalid secret, 7000222 expired secret, 700016 unknown application, 90002 unknown tenant.
  const fix = /AADSTS70002(15|22)|invalid_client/.test(text)
    ? "The client secret is wrong or expired: put the secret's value (not its id) in the file auth.clientSecretFile names."
    : /AADSTS700016|unauthorized_client/.test(text)
      ? "No application with that client id in this tenant: check auth.clientId (AEG_CLIENT_ID, --client-id) and tenantId."
      : /AADSTS90002/.test(text)
        ? "No such tenant: check tenantId (AEG_TENANT_ID, --tenant)."
        : /endpoints_resolution_error/.test(text)
          ? // MSAL could not read the tenant's OpenID metadata: an unknown tenant, or an authority it cannot reach or trust.
            "Check tenantId (AEG_TENANT_ID, --tenant) and cloud.authority; if a private CA signs the authority's certificate, name it in cloud.caFile."
          : "Sign in with `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID with a secret, certificate or workload identity.";
  const aadsts = /AADSTS\d+: [^.]*/.exec(text)?.[0];
  return new PermissionError(`${what}: no usable Azure credential (${aadsts ?? firstLine(text)})`, fix);
}

/**
 * A request that never reached its host. A name that does not resolve or a certificate that is not
 * trusted is a setting to fix (exit 2, naming the URL); a refused or timed-out connection may pass.
 */
function unreachableEndpoint(err: unknown, what: string): UserError | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const { code, request } = err as { code?: unknown; request?: { url?: string } };
  if (typeof code !== "string" || !request?.url) return undefined;
  let origin: string;
  try {
    origin = new URL(request.url).origin;
  } catch {
    return undefined;
  }
  if (code === "ENOTFOUND") return new UserError(`${what}: ${origin}: no such host`, ExitCode.usage, "Check the URL in the configuration (dataverse.url, agents[].environmentUrl, cloud.*).");
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new UserError(`${what}: ${origin}: its TLS certificate is not trusted (${code})`, ExitCode.usage, "If a private CA or a TLS-inspecting proxy signs it, name its PEM file in cloud.caFile.");
  }
  if (code === "ECONNREFUSED" || code === "ETIMEDOUT" || code === "ECONNRESET" || code === "EHOSTUNREACH") {
    return new UserError(`${what}: ${origin}: cannot connect (${code})`, ExitCode.unexpected, "Check the URL and the network path to it, then run the command again.");
  }
  return undefined;
}
