import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  retryPolicy,
  type HttpClient,
  type Pipeline,
  type PipelinePolicy,
  type RetryInformation,
  type RetryModifiers,
  type RetryStrategy,
} from "@azure/core-rest-pipeline";
import { RequestCounter } from "./arm.js";

export interface RetryOptions {
  maxRetries: number;
  /** First back-off for a 5xx or a dropped connection; doubles each time. */
  baseDelayMs: number;
  /** Longest Retry-After honoured; a longer one fails the request instead of hanging the run. */
  maxRetryAfterMs: number;
}

const DEFAULT_RETRY: RetryOptions = { maxRetries: 4, baseDelayMs: 1000, maxRetryAfterMs: 120_000 };
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]);
const TRANSIENT = new Set([500, 502, 503, 504]);

/**
 * When Dataverse and Graph requests are sent again. A 429 is retried for every method after the
 * server's Retry-After (a throttled request was not processed). A 5xx or a dropped connection is
 * retried only for methods that cannot duplicate a write: a POST that may have been processed is
 * left to the caller, whose next run observes and adopts what exists. The library's own
 * strategies are not used: they retry a POST after a 5xx or a reset.
 */
export function serviceRetryStrategy(options: Partial<RetryOptions> = {}): RetryStrategy {
  const opts = { ...DEFAULT_RETRY, ...options };
  return {
    name: "aegServiceRetry",
    retry({ retryCount, response, responseError }: RetryInformation): RetryModifiers {
      const backoff = opts.baseDelayMs * 2 ** retryCount;
      if (response?.status === 429) {
        const wait = retryAfterMs(response.headers.get("retry-after")) ?? backoff;
        // Skipped, the 429 goes back to the caller: a wait this long is a stop, not a pause.
        return wait > opts.maxRetryAfterMs ? { skipStrategy: true } : { retryAfterInMs: wait };
      }
      // The request rides on the answer, or on the error when no answer came.
      const method = (response ?? responseError)?.request?.method ?? "";
      const transient = response ? TRANSIENT.has(response.status) : isConnectionError(responseError);
      return transient && IDEMPOTENT.has(method) ? { retryAfterInMs: backoff } : { skipStrategy: true };
    },
  };
}

/** The shared retry policy for Dataverse and Graph: core-rest-pipeline's retryPolicy with our strategy. */
export function serviceRetryPolicy(options: Partial<RetryOptions> = {}): PipelinePolicy {
  return retryPolicy([serviceRetryStrategy(options)], { maxRetries: options.maxRetries ?? DEFAULT_RETRY.maxRetries });
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A connection that broke after the request may have reached the server (the pipeline wraps it in a RestError). */
function isConnectionError(err: RestError | undefined): boolean {
  return err?.code === RestError.REQUEST_SEND_ERROR || err?.code === "ECONNRESET";
}

export interface ServiceResponse {
  status: number;
  headers: { get(name: string): string | undefined };
  body: unknown;
}

/**
 * A small JSON client for one service: bearer token for `scope`, the shared retry policy, and a
 * request counter. Non-2xx answers become RestErrors with the service's error code, so the same
 * error mapping (exit 3 naming the role) applies as for ARM.
 */
export class ServiceClient {
  private readonly pipeline: Pipeline;
  private readonly http: HttpClient;

  constructor(
    readonly baseUrl: string,
    credential: TokenCredential,
    scope: string,
    readonly counter: RequestCounter = new RequestCounter(),
    retry: Partial<RetryOptions> = {},
    private readonly defaultHeaders: Record<string, string> = {},
  ) {
    this.pipeline = createEmptyPipeline();
    this.pipeline.addPolicy(counter.policy);
    this.pipeline.addPolicy(serviceRetryPolicy(retry));
    this.pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: scope }));
    this.http = createDefaultHttpClient();
  }

  async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ServiceResponse> {
    return this.sendText(method, path, body === undefined ? undefined : { text: JSON.stringify(body), contentType: "application/json" }, headers);
  }

  /** As `send`, with a body that is not JSON (a `$batch` multipart body). */
  async sendText(method: string, path: string, body: { text: string; contentType: string } | undefined, headers: Record<string, string> = {}): Promise<ServiceResponse> {
    const request = createPipelineRequest({
      url: path.startsWith("https://") ? path : `${this.baseUrl}${path}`,
      method: method as "GET",
      headers: createHttpHeaders({ Accept: "application/json", ...this.defaultHeaders, ...(body ? { "Content-Type": body.contentType } : {}), ...headers }),
      ...(body ? { body: body.text } : {}),
    });
    const response = await this.pipeline.sendRequest(this.http, request);
    const text = response.bodyAsText ?? "";
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (response.status >= 400) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new RestError(err?.message ?? `HTTP ${response.status}`, { code: err?.code ?? String(response.status), statusCode: response.status, request, response });
    }
    return { status: response.status, headers: { get: (n) => response.headers.get(n) }, body: parsed };
  }
}
