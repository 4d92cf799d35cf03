// The sandbox's blob storage (Azurite behind the sandbox's TLS front), driven by the real
// @azure/storage-blob client with the sandbox's Entra tokens: the checkpoint container is there,
// blobs and their metadata round-trip, a forged token is refused, and a restart keeps the URL and
// the blobs.
import fs from "node:fs";
import path from "node:path";
import { ContainerClient, RestError } from "@azure/storage-blob";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { SignJWT, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Sandbox } from "../../sandbox/index.js";
import { credential, startTestSandbox } from "../support/sandbox.js";

let sb: Sandbox;
let dir: string;

const container = (cred: TokenCredential = credential(sb)) => new ContainerClient(sb.checkpointStore, cred, { retryOptions: { maxTries: 1 } });

beforeAll(async () => {
  ({ sb, dir } = await startTestSandbox());
});

afterAll(async () => {
  await sb?.close();
});

describe("the sandbox's blob storage", () => {
  test("the checkpoint container exists and takes blobs with metadata, signed in with an Entra token", async () => {
    expect(sb.checkpointStore).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/aeg-sink-checkpoints$/);
    const c = container();
    expect(await c.exists()).toBe(true);
    const blob = c.getBlockBlobClient("ns/hub/$default/checkpoint/0");
    await blob.upload("", 0, { metadata: { sequencenumber: "41", offset: "4100" } });
    const props = await blob.getProperties();
    expect(props.metadata).toEqual({ sequencenumber: "41", offset: "4100" });
    // A conditional write against a stale etag is refused (what partition ownership relies on).
    await blob.setMetadata({ sequencenumber: "42", offset: "4200" }, { conditions: { ifMatch: props.etag } });
    const stale = await blob.setMetadata({ sequencenumber: "43", offset: "4300" }, { conditions: { ifMatch: props.etag } }).catch((e: RestError) => e);
    expect((stale as RestError).statusCode).toBe(412);
    const listed = [];
    for await (const b of c.listBlobsFlat({ prefix: "ns/hub/", includeMetadata: true })) listed.push({ name: b.name, metadata: b.metadata });
    expect(listed).toEqual([{ name: "ns/hub/$default/checkpoint/0", metadata: { sequencenumber: "42", offset: "4200" } }]);
  });

  test("a token the sandbox's Entra did not sign is refused (401)", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ aud: "https://storage.azure.com", tid: sb.tenantId, oid: "00000000-0000-0000-0000-000000000001", ver: "1.0" })
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(`https://sts.windows.net/${sb.tenantId}/`)
      .setIssuedAt(now)
      .setNotBefore(now - 60)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    const forged: TokenCredential = { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: (now + 3600) * 1000 }) };
    const err = await container(forged).exists().catch((e: RestError) => e);
    expect((err as RestError).statusCode).toBe(401);
    expect((err as RestError).code).toBe("InvalidAuthenticationInfo");
  });

  test("a restart keeps the URL and the blobs; Azurite's state is in the state directory", async () => {
    const url = sb.checkpointStore;
    expect(fs.existsSync(path.join(dir, "azurite"))).toBe(true);
    await sb.close();
    ({ sb } = await startTestSandbox({ stateDir: dir }));
    expect(sb.checkpointStore).toBe(url);
    const props = await container().getBlockBlobClient("ns/hub/$default/checkpoint/0").getProperties();
    expect(props.metadata).toEqual({ sequencenumber: "42", offset: "4200" });
  });
});
