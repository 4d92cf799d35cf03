// HTTP calls the gateway makes itself (send-request, openid-config). The sandbox has no internet:
// well-known Microsoft hosts are answered by the sandbox's own listeners, loopback URLs are
// called as they are, and anything else fails like an unreachable host.
import http from "node:http";
import https from "node:https";
import tls from "node:tls";

export interface OutboundRequest {
  method: string;
  url: string;
  headers: Record<string, string[]>;
  body?: string;
}

export interface OutboundResponse {
  status: number;
  reason: string;
  headers: Record<string, string[]>;
  body: string;
}

/** A call that produced no HTTP response; `reason` is APIM's LastError.Reason for it. */
export class TransportError extends Error {
  constructor(
    readonly reason: "Timeout" | "BackendConnectionFailure",
    message: string,
  ) {
    super(message);
  }
}

export interface SandboxHosts {
  authority: () => string;
  graph: () => string;
  dataverse: () => string;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** Where a URL really goes in the sandbox; undefined = unreachable (no internet). */
function routeUrl(url: URL, hosts: SandboxHosts): URL | undefined {
  const host = url.hostname.toLowerCase();
  const onto = (base: string) => new URL(url.pathname + url.search, base);
  if (host === "login.microsoftonline.com" || host === "sts.windows.net") return onto(hosts.authority());
  if (host === "graph.microsoft.com") return onto(hosts.graph());
  if (/\.dynamics\.com$/.test(host)) return onto(hosts.dataverse());
  if (LOOPBACK.has(host)) return url;
  return undefined;
}

export class OutboundClient {
  private readonly ca: string[];

  constructor(
    caPem: string,
    private readonly hosts: SandboxHosts,
  ) {
    this.ca = [...tls.rootCertificates, caPem];
  }

  /** Sends a request and buffers the answer; any status is a response, not an error. */
  call(req: OutboundRequest, timeoutMs: number): Promise<OutboundResponse> {
    let target: URL;
    try {
      target = new URL(req.url);
    } catch {
      return Promise.reject(new TransportError("BackendConnectionFailure", `Invalid URI: '${req.url}' is not an absolute URL.`));
    }
    const routed = routeUrl(target, this.hosts);
    if (!routed) {
      return Promise.reject(new TransportError("BackendConnectionFailure", `Unable to connect to the remote server: the sandbox gateway has no internet access ('${target.host}').`));
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k.toLowerCase() !== "host" && k.toLowerCase() !== "content-length") headers[k] = v;
    const body = req.body ?? "";
    if (body) headers["content-length"] = String(Buffer.byteLength(body));
    const lib = routed.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        f();
      };
      const r = lib.request(routed, { method: req.method, headers, ca: this.ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => finish(() => reject(new TransportError("BackendConnectionFailure", e.message))));
        res.on("end", () =>
          finish(() => {
            const out: Record<string, string[]> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v : [v];
            resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? "", headers: out, body: Buffer.concat(chunks).toString("utf8") });
          }),
        );
      });
      const timer = setTimeout(() => {
        finish(() => reject(new TransportError("Timeout", `Request to '${req.url}' timed out after ${Math.round(timeoutMs / 1000)} seconds.`)));
        r.destroy();
      }, timeoutMs);
      r.on("error", (e) => finish(() => reject(new TransportError("BackendConnectionFailure", `Unable to connect to the remote server: ${e.message}`))));
      r.end(body || undefined);
    });
  }
}
