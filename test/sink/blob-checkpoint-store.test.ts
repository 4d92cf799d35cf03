// The shared checkpoint store's answers to a user: the container URL it accepts, and what Blob
// Storage's refusals become (403 → exit 3 naming the role and the container, 404 → exit 2), both
// when the sink opens the store and later from the load balancer's calls. A local HTTPS server
// answers as Blob Storage does (the sandbox's Azurite lets every identity in, so it cannot refuse).
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPki } from "../../sandbox/pki.js";
import { ExitCode, UserError } from "../../src/errors.js";
import { checkContainerUrl, CHECKPOINT_ROLE, SharedCheckpointStore } from "../../src/sink/blob-checkpoint-store.js";
import { tempDir, trustCa } from "../support/sandbox.js";

const token: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) };
let server: https.Server;
let base = "";
/** How the fake storage answers: everything allowed, refused (403) or no container (404). */
let mode: "ok" | "deny" | "missing" = "ok";

function storageError(res: import("node:http").ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:1\nTime:2026-06-09T00:00:00Z</Message></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "x-ms-error-code": code, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

beforeAll(async () => {
  const dir = tempDir("aeg-blob-");
  const pki = await loadPki(dir);
  trustCa(pki.caFile);
  server = https.createServer(pki.tls, (req, res) => {
    req.resume();
    if (mode === "deny") return storageError(res, 403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.");
    if (mode === "missing") return storageError(res, 404, "ContainerNotFound", "The specified container does not exist.");
    const body = `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="${base}/" ContainerName="checkpoints"><Blobs /><NextMarker /></EnumerationResults>`;
    res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function refusal(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

describe("--checkpoint-store URL", () => {
  it("takes a container URL and normalizes it", () => {
    expect(checkContainerUrl("https://acct.blob.core.windows.net/aeg-sink-checkpoints/")).toBe("https://acct.blob.core.windows.net/aeg-sink-checkpoints");
    expect(checkContainerUrl("https://127.0.0.1:10000/devstoreaccount1/aeg-sink-checkpoints")).toBe("https://127.0.0.1:10000/devstoreaccount1/aeg-sink-checkpoints");
  });

  it.each([
    ["not a URL", "checkpoints"],
    ["http", "http://acct.blob.core.windows.net/checkpoints"],
    ["a SAS", "https://acct.blob.core.windows.net/checkpoints?sv=2024-01-01&sig=abc"],
    ["no container", "https://acct.blob.core.windows.net/"],
    ["an invalid container name", "https://acct.blob.core.windows.net/Check_Points"],
  ])("refuses %s (exit 2), without echoing a query", (_, url) => {
    let err: unknown;
    try {
      checkContainerUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(ExitCode.usage);
    expect((err as UserError).message).not.toContain("sig=");
  });
});

describe("Blob Storage's refusals", () => {
  it("403 when the sink opens the store: exit 3, naming the role and the container", async () => {
    mode = "deny";
    const err = await refusal(SharedCheckpointStore.open(`${base}/acct/checkpoints`, token));
    expect(err.exitCode).toBe(ExitCode.auth);
    expect(err.message).toContain(`${base}/acct/checkpoints`);
    expect(err.message).toContain("403 AuthorizationPermissionMismatch");
    expect(err.hint).toContain(CHECKPOINT_ROLE);
  });

  it("404 when the sink opens the store: exit 2, no such container", async () => {
    mode = "missing";
    const err = await refusal(SharedCheckpointStore.open(`${base}/acct/checkpoints`, token));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toContain("no such container");
  });

  it("a 403 later, from the load balancer's calls, is the same exit 3 (listOwnership's wrapped error included)", async () => {
    mode = "ok";
    const store = await SharedCheckpointStore.open(`${base}/acct/checkpoints`, token);
    expect(await store.listOwnership("ns.servicebus.windows.net", "hub", "$Default")).toEqual([]);
    mode = "deny";
    for (const call of [
      () => store.listOwnership("ns.servicebus.windows.net", "hub", "$Default"),
      () => store.claimOwnership([{ fullyQualifiedNamespace: "ns.servicebus.windows.net", eventHubName: "hub", consumerGroup: "$Default", partitionId: "0", ownerId: "me", etag: "0x1" }]),
      () => store.updateCheckpoint({ fullyQualifiedNamespace: "ns.servicebus.windows.net", eventHubName: "hub", consumerGroup: "$Default", partitionId: "0", sequenceNumber: 1, offset: "1" }),
    ]) {
      const err = await refusal(call());
      expect(err.exitCode).toBe(ExitCode.auth);
      expect(err.hint).toContain(CHECKPOINT_ROLE);
    }
  });
});
