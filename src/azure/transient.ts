/**
 * ARM answers that mean "not now" rather than "no": a lock or an operation in progress that clears
 * by itself. They are retried here, on the ARM clients, with bounded exponential back-off and
 * jitter, through @azure/core-rest-pipeline's `retryPolicy` and a strategy of our own.
 *
 * Not repeated here because the SDK's default retry policy already covers them (see
 * @typespec/ts-http-runtime's throttlingRetryStrategy and exponentialRetryStrategy): 408, 5xx
 * other than 501/505, connection errors, and 429/503 that carry a Retry-After header. The SDK
 * never retries a 409 (Azure/azure-sdk-for-js#23298), nor a 429 without Retry-After.
 */
import { RestError, retryPolicy, type PipelinePolicy, type PipelineResponse, type RetryStrategy } from "@azure/core-rest-pipeline";

export interface TransientRule {
  /** A name for messages and tests. */
  name: string;
  /** What the user can do when it still answers so after the last retry. */
  hint: string;
  matches(answer: TransientAnswer): boolean;
}

/** What a rule looks at: the status, the error code and message of the body, the If-Match sent. */
export interface TransientAnswer {
  status: number;
  code?: string;
  message?: string;
  ifMatch?: string;
  /** From Retry-After, retry-after-ms or x-ms-retry-after-ms, when the answer names one. */
  retryAfterMs?: number;
}

const BUSY_API = "Another operation holds the API (a deployment, the portal, another pipeline): wait for it to finish, then run aeg setup again; it resumes where it stopped.";

/** Each rule with where it is documented or reported. Order matters only for the name reported. */
export const TRANSIENT_RULES: readonly TransientRule[] = [
  {
    // APIM's API-level lock: a write under an API while another operation on it runs, or just
    // after its async operation reported success (Azure/apiops#141, #379, #497; Azure/apiops-cli#252;
    // APIOps retries it since Azure/apiops#799).
    name: "PessimisticConcurrencyConflict",
    hint: BUSY_API,
    matches: (a) => a.status === 409 && a.code === "PessimisticConcurrencyConflict",
  },
  {
    // The same lock, reported with the generic code (Azure/apiops#787 retries code Conflict with this message).
    name: "Conflict (operation on the API in progress)",
    hint: BUSY_API,
    matches: (a) => a.status === 409 && a.code === "Conflict" && /operation on the api is in progress/i.test(a.message ?? ""),
  },
  {
    // APIM's control plane could not reach or timed out on the instance's management endpoint
    // (Azure/apiops#497, #689; APIOps retries 409/422 ManagementApiRequestFailed since Azure/apiops#787).
    name: "ManagementApiRequestFailed",
    hint: "APIM could not reach its management endpoint: check the instance's health (and, in a virtual network, https://aka.ms/apimnetworkstatus), then run aeg setup again.",
    matches: (a) => (a.status === 409 || a.status === 422) && a.code === "ManagementApiRequestFailed",
  },
  {
    // APIM locks an entity while it is updated; a concurrent write to it answers 412 even without
    // If-Match (the APIM team, quoted in hashicorp/terraform-provider-azurerm#8571; APIOps retries 412).
    // With a specific If-Match a 412 means the entity changed since aeg read it: never retried.
    name: "PreconditionFailed (entity locked)",
    hint: "Another client is writing the same entity: wait for it to finish, then run aeg setup again.",
    matches: (a) => a.status === 412 && (a.ifMatch === undefined || a.ifMatch.trim() === "*"),
  },
  {
    // ARM resource providers' "another operation is in progress" (Microsoft.Network and others:
    // hashicorp/terraform-provider-azurerm#3780, pulumi/pulumi-azure-native#903).
    name: "AnotherOperationInProgress",
    hint: "Another operation on the resource is still running in Azure: wait for it to finish, then run aeg setup again.",
    matches: (a) => (a.status === 409 || a.status === 429) && (a.code === "AnotherOperationInProgress" || a.code === "RetryableErrorDueToAnotherOperation"),
  },
  {
    // Event Hubs: "Namespace update failed with conflict in backend", wait and retry
    // (learn.microsoft.com/azure/event-hubs/resource-manager-exceptions, error code Conflict).
    name: "Conflict (Event Hubs backend)",
    hint: "Another operation on the Event Hubs namespace is running: wait for it to finish, then run aeg setup again.",
    matches: (a) => a.status === 409 && /conflict in backend/i.test(a.message ?? ""),
  },
  {
    // 429 without Retry-After: Event Hubs' "Namespace provisioning in transition" (same page,
    // error code 429) and Microsoft.Network's RetryableErrorDueToAnotherOperation
    // (learn.microsoft.com/troubleshoot/azure/virtual-machines/troubleshooting-throttling-errors).
    // The SDK retries a 429 only when it names a Retry-After.
    name: "TooManyRequests (no Retry-After)",
    hint: "Azure kept throttling or reporting a transition: wait a few minutes, then run aeg setup again.",
    matches: (a) => a.status === 429 && a.retryAfterMs === undefined,
  },
];

export interface TransientOptions {
  /** Retries after the first answer; then the last refusal is thrown as a TransientRefusalError. */
  maxRetries: number;
  /** First back-off; doubles each retry. */
  baseDelayMs: number;
  /** Longest single back-off (a Retry-After above it is cut to it). */
  maxDelayMs: number;
  /** [0, 1); tests pass a fixed one. */
  random?: () => number;
}

/** The last transient refusal, after every retry: `explainAzureError` names the code, the count and what to do. */
export class TransientRefusalError extends RestError {
  constructor(
    readonly rule: TransientRule,
    readonly retries: number,
    readonly elapsedMs: number,
    answer: TransientAnswer,
    response: PipelineResponse,
  ) {
    super(answer.message ?? `HTTP ${answer.status}`, { code: answer.code ?? String(answer.status), statusCode: answer.status, request: response.request, response });
    // RestError pins its own prototype; restore ours so `instanceof` works.
    Object.setPrototypeOf(this, TransientRefusalError.prototype);
    this.name = "TransientRefusalError";
  }
}

export function transientRule(answer: TransientAnswer): TransientRule | undefined {
  return TRANSIENT_RULES.find((r) => r.matches(answer));
}

/** Back-off before retry `n` (0-based): half fixed, half random ("equal jitter"), never above the cap. */
export function backoffMs(n: number, opts: TransientOptions): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** n);
  return Math.round(ceiling / 2 + (opts.random ?? Math.random)() * (ceiling / 2));
}

/** The strategy: skips every answer no rule matches, so the policy returns or throws it unchanged. */
export function transientRetryStrategy(opts: TransientOptions): RetryStrategy {
  let started: number | undefined;
  return {
    name: "aegTransientRefusals",
    retry({ retryCount, response, responseError }) {
      const res = response ?? responseError?.response;
      if (!res) return { skipStrategy: true };
      const answer = readAnswer(res);
      const rule = answer && transientRule(answer);
      if (!answer || !rule) return { skipStrategy: true };
      if (retryCount === 0) started = Date.now();
      if (retryCount >= opts.maxRetries) {
        return { errorToThrow: new TransientRefusalError(rule, retryCount, Date.now() - (started ?? Date.now()), answer, res) };
      }
      return { retryAfterInMs: Math.min(opts.maxDelayMs, Math.max(backoffMs(retryCount, opts), answer.retryAfterMs ?? 0)) };
    },
  };
}

/** The pipeline policy for the ARM clients. One more try than retries, so the strategy sees the last answer. */
export function transientRetryPolicy(opts: TransientOptions): PipelinePolicy {
  const strategy = () => transientRetryStrategy(opts);
  return {
    name: "aegTransientRetry",
    // A strategy per request: its clock starts with that request's first refusal.
    sendRequest: (request, next) => retryPolicy([strategy()], { maxRetries: opts.maxRetries + 1 }).sendRequest(request, next),
  };
}

/** The back-off scales with the session's poll interval: 500 ms for local tenants, 20 s for Azure. */
export function transientOptionsFor(pollIntervalMs: number): TransientOptions {
  return { maxRetries: 8, baseDelayMs: Math.max(5, Math.round(pollIntervalMs / 10)), maxDelayMs: Math.max(50, pollIntervalMs * 3) };
}

const STATUSES = new Set([409, 412, 422, 429]);

function readAnswer(res: PipelineResponse): TransientAnswer | undefined {
  if (!STATUSES.has(res.status)) return undefined;
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(res.bodyAsText ?? "") as { error?: { code?: unknown; message?: unknown } }).error;
  } catch {
    error = undefined;
  }
  const ifMatch = res.request.headers.get("if-match");
  const retryAfter = retryAfterMs(res);
  return {
    status: res.status,
    ...(typeof error?.code === "string" ? { code: error.code } : {}),
    ...(typeof error?.message === "string" ? { message: error.message } : {}),
    ...(ifMatch !== undefined ? { ifMatch } : {}),
    ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
  };
}

/** The wait an answer asks for, in ms: the two millisecond headers, or Retry-After in seconds or as a date. */
function retryAfterMs(res: PipelineResponse): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const ms = Number(res.headers.get(name));
    if (res.headers.get(name) && Number.isFinite(ms)) return ms;
  }
  const value = res.headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
