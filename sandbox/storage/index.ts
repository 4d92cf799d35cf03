// The sandbox's Blob Storage endpoint: an HTTPS listener of the sandbox (stable port, its
// certificate) in front of Azurite. The front starts Azurite on the first request, not with the
// sandbox: Azurite takes seconds to start, and most sandboxes (every test's) never use blob storage.
// Before a request reaches Azurite the front checks a bearer token's signature against the
// sandbox's Entra (Azurite's basic OAuth checks only lifetime, issuer and audience).
//
// Not modelled: Azure RBAC on data. Azure wants Storage Blob Data Contributor (or Owner) on the
// container or its account for the checkpoint store; the sandbox lets any identity of its tenant
// read and write, because its RBAC model knows no storage account to assign that role on.
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { listenPreferring, type Listener } from "../http.js";
import { issueToken, verifyToken, type EntraContext } from "../entra.js";
import { SERVER_CERT_FILE, SERVER_KEY_FILE } from "../pki.js";
import { startAzurite, type Azurite } from "./azurite.js";

/** Azurite's built-in account; the container the sink's checkpoints go in. */
export const ACCOUNT = "devstoreaccount1";
export const CHECKPOINT_CONTAINER = "aeg-sink-checkpoints";
/** Azurite's state, under the sandbox's state directory (reset removes it). */
export const AZURITE_DIR = "azurite";

/** The audiences Azure Storage accepts for Entra tokens (the SDKs ask for the first). */
const AUDIENCES = ["https://storage.azure.com", "https://storage.azure.com/"];
const X_MS_VERSION = "2021-12-02";

export interface BlobServiceOptions {
  stateDir: string;
  entra: EntraContext;
  tls: { key: string; cert: string };
  caPem: string;
  /** Last run's port, taken when free. */
  port?: number;
}

export class BlobService {
  private azurite: Promise<Azurite> | undefined;
  private readonly agent: https.Agent;
  private closed = false;

  private constructor(
    private readonly o: BlobServiceOptions,
    private readonly listener: Listener,
  ) {
    this.agent = new https.Agent({ keepAlive: true, ca: o.caPem });
  }

  static async start(o: BlobServiceOptions): Promise<BlobService> {
    let service: BlobService | undefined;
    const listener = await listenPreferring(o.tls, o.port, (req, res) => service!.handle(req, res));
    service = new BlobService(o, listener);
    return service;
  }

  /** https://127.0.0.1:<port> */
  get url(): string {
    return this.listener.url;
  }

  get port(): number {
    return Number(new URL(this.listener.url).port);
  }

  /** The checkpoint container's URL, as `aeg sink --checkpoint-store` takes it. */
  get checkpointStore(): string {
    return `${this.url}/${ACCOUNT}/${CHECKPOINT_CONTAINER}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.listener.close();
    this.agent.destroy();
    const running = await this.azurite?.catch(() => undefined);
    await running?.stop();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refused = await this.authenticate(req.headers.authorization);
    if (refused) return storageError(res, 401, "InvalidAuthenticationInfo", `Server failed to authenticate the request. ${refused}`, { "WWW-Authenticate": `Bearer authorization_uri=${this.o.entra.authority()}/${this.o.entra.state.tenantId}/oauth2/authorize resource_id=https://storage.azure.com` });
    let upstream: Azurite;
    try {
      upstream = await this.ready();
    } catch (err) {
      return storageError(res, 503, "ServerBusy", `The sandbox's storage emulator is not available: ${(err as Error).message}`);
    }
    await this.forward(req, res, upstream);
  }

  /** Why a bearer token is refused, or undefined (no token: Azurite answers as Azure does). */
  private async authenticate(authorization: string | undefined): Promise<string | undefined> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!m) return undefined;
    const v = await verifyToken(this.o.entra, m[1]!, AUDIENCES);
    if (v.ok) return undefined;
    return v.reason === "expired" ? "The token is expired." : v.reason === "audience" ? `The token's audience ${v.detail} is not Azure Storage.` : "The token's signature or issuer is not valid.";
  }

  /** Azurite, started on first use with the checkpoint container made; a failed start is retried next time. */
  private ready(): Promise<Azurite> {
    if (this.closed) return Promise.reject(new Error("the sandbox is stopping"));
    this.azurite ??= this.launch().catch((err: unknown) => {
      this.azurite = undefined;
      throw err;
    });
    return this.azurite;
  }

  private async launch(): Promise<Azurite> {
    const azurite = await startAzurite({
      location: path.join(this.o.stateDir, AZURITE_DIR),
      certFile: path.join(this.o.stateDir, SERVER_CERT_FILE),
      keyFile: path.join(this.o.stateDir, SERVER_KEY_FILE),
    });
    try {
      await this.createContainer(azurite);
    } catch (err) {
      await azurite.stop();
      throw err;
    }
    if (this.closed) {
      await azurite.stop();
      throw new Error("the sandbox is stopping");
    }
    return azurite;
  }

  /** The checkpoint container, made as the operator app (201, or 409 when it is there from a past run). */
  private async createContainer(azurite: Azurite): Promise<void> {
    const operator = this.o.entra.state.apps.operator;
    const token = await issueToken(this.o.entra, { appId: operator.clientId, objectId: operator.objectId, displayName: operator.displayName }, AUDIENCES[0]!);
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        `${azurite.url}/${ACCOUNT}/${CHECKPOINT_CONTAINER}?restype=container`,
        { method: "PUT", agent: this.agent, headers: { authorization: `Bearer ${token}`, "x-ms-version": X_MS_VERSION, "x-ms-date": new Date().toUTCString(), "content-length": 0 } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    if (status !== 201 && status !== 409) throw new Error(`creating container ${CHECKPOINT_CONTAINER} answered ${status}`);
  }

  /** Streams the request to Azurite and its answer back, headers as they are (Host included: Azurite reads the account from the path of an IP host). */
  private forward(req: IncomingMessage, res: ServerResponse, azurite: Azurite): Promise<void> {
    return new Promise<void>((resolve) => {
      const up = https.request({ host: "127.0.0.1", port: azurite.port, method: req.method, path: req.url, headers: withoutHopByHop(req.headers), agent: this.agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
        answer.pipe(res);
        answer.on("end", resolve);
        answer.on("error", () => {
          res.destroy();
          resolve();
        });
      });
      up.on("error", (err) => {
        if (!res.headersSent) storageError(res, 503, "ServerBusy", `The sandbox's storage emulator did not answer: ${err.message}`);
        else res.destroy();
        resolve();
      });
      req.pipe(up);
    });
  }
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

function withoutHopByHop(headers: IncomingMessage["headers"]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  return out;
}

/** An error the way Blob Storage words one: XML body, x-ms-error-code header. */
function storageError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const requestId = randomUUID();
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${escapeXml(message)}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
  res.writeHead(status, { ...headers, "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body), "x-ms-error-code": code, "x-ms-request-id": requestId });
  res.end(body);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
}
