import type { TokenCredential } from "@azure/core-auth";
import {
  bearerTokenAuthenticationPolicy,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  RestError,
  type HttpClient,
  type Pipeline,
  type PipelinePolicy,
  type PipelineResponse,
} from "@azure/core-rest-pipeline";
import { createDefaultHttpClient } from "@azure/core-rest-pipeline";
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
 * The one retry policy for Dataverse and Graph. A 429 is retried for every method after the
 * server's Retry-After (a throttled request was not processed). A 5xx or a dropped connection is
 * retried only for methods that cannot duplicate a write: a POST that may have been processed is
 * left to the caller, whose next run observes and adopts what exists.
 */
export function serviceRetryPolicy(options: Partial<RetryOptions> = {}): PipelinePolicy {
  const opts = { ...DEFAULT_RETRY, ...options };
  return {
    name: "aegServiceRetry",
    async sendRequest(request, next) {
      for (let attempt = 0; ; attempt++) {
        let response: PipelineResponse | undefined;
        let error: unknown;
        try {
          response = await next(request);
        } catch (err) {
          error = err;
        }
        const last = attempt >= opts.maxRetries;
        if (response?.status === 429 && !last) {
          const wait = retryAfterMs(response.headers.get("retry-after")) ?? opts.baseDelayMs * 2 ** attempt;
          if (wait > opts.maxRetryAfterMs) return response;
          await delay(wait, request.abortSignal);
          continue;
        }
        const transient = error ? isConnectionError(error) : TRANSIENT.has(response!.status);
        if (transient && !last && IDEMPOTENT.has(request.method)) {
          await delay(opts.baseDelayMs * 2 ** attempt, request.abortSignal);
          continue;
        }
        if (error) throw error;
        return response!;
      }
    },
  };
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return err instanceof RestError ? code === RestError.REQUEST_SEND_ERROR || code === "ECONNRESET" : ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE"].includes(code ?? "");
}

function delay(ms: number, signal?: { aborted: boolean; addEventListener(type: "abort", listener: () => void): void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("aborted"));
    });
  });
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
