import type { TokenCredential } from "@azure/core-auth";
import type { Checkpoint, CheckpointStore, PartitionOwnership } from "@azure/event-hubs";
import { BlobCheckpointStore } from "@azure/eventhubs-checkpointstore-blob";
import { AuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { ContainerClient } from "@azure/storage-blob";
import { azureCode, explainAzureError, statusOf } from "../azure/errors.js";
import { ExitCode, PermissionError, UserError } from "../errors.js";

/** The data role the sink's identity needs on the checkpoint container (or its account). */
export const CHECKPOINT_ROLE = "Storage Blob Data Contributor";

/**
 * Checkpoints and partition ownership in a blob container, shared by every sink instance that
 * names it: the Event Hubs client balances the hub's partitions between the instances through the
 * ownership blobs and hands a dead instance's partitions to the others once its claims expire.
 *
 * Known and harmless: the package claims a partition nobody owned yet with an unconditional
 * upload (no If-None-Match), so two instances starting together may both claim it and both read
 * it until Event Hubs disconnects the earlier reader (epoch 0) and ownership settles. Rows are
 * upserts on the correlation id, so reading an event twice writes its row twice, never two rows.
 *
 * Every failure that means "this identity may not" becomes exit 3 naming the role and container.
 */
export class SharedCheckpointStore implements CheckpointStore {
  private readonly inner: BlobCheckpointStore;

  private constructor(
    private readonly container: ContainerClient,
    readonly url: string,
  ) {
    this.inner = new BlobCheckpointStore(container);
  }

  /** Opens the container with the session's credential and proves it is there and readable. */
  static async open(containerUrl: string, credential: TokenCredential): Promise<SharedCheckpointStore> {
    const url = checkContainerUrl(containerUrl);
    // Storage answers in milliseconds; a try that hangs is better retried than waited on, and a
    // load-balancing pass must end well within the ownership expiry.
    const container = new ContainerClient(url, credential, { retryOptions: { maxTries: 4, tryTimeoutInMs: 30_000 } });
    const store = new SharedCheckpointStore(container, url);
    await store.probe();
    return store;
  }

  listOwnership(fullyQualifiedNamespace: string, eventHubName: string, consumerGroup: string): Promise<PartitionOwnership[]> {
    return this.guard(() => this.inner.listOwnership(fullyQualifiedNamespace, eventHubName, consumerGroup));
  }

  claimOwnership(ownerships: PartitionOwnership[]): Promise<PartitionOwnership[]> {
    return this.guard(() => this.inner.claimOwnership(ownerships));
  }

  updateCheckpoint(checkpoint: Checkpoint): Promise<void> {
    return this.guard(() => this.inner.updateCheckpoint(checkpoint));
  }

  listCheckpoints(fullyQualifiedNamespace: string, eventHubName: string, consumerGroup: string): Promise<Checkpoint[]> {
    return this.guard(() => this.inner.listCheckpoints(fullyQualifiedNamespace, eventHubName, consumerGroup));
  }

  /** One page of one blob: the read every load-balancing pass starts with. */
  private async probe(): Promise<void> {
    try {
      await this.container.listBlobsFlat({ prefix: "~" }).byPage({ maxPageSize: 1 }).next();
    } catch (err) {
      throw this.explain(err) ?? err;
    }
  }

  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const explained = this.explain(err);
      if (explained) throw explained;
      // listOwnership rethrows storage errors as plain Errors, status lost: ask again to learn it.
      if (statusOf(err) === undefined && (err as Error)?.name !== "AbortError") await this.probe();
      throw err;
    }
  }

  /** The user error a storage answer means, or undefined when it is not the user's to fix. */
  private explain(err: unknown): UserError | undefined {
    if (err instanceof CredentialUnavailableError || err instanceof AuthenticationError) return explainAzureError(err, `checkpoint store ${this.url}`, CHECKPOINT_ROLE) as UserError;
    const status = statusOf(err);
    const code = azureCode(err);
    if (status === 401 || status === 403) {
      return new PermissionError(
        `Blob Storage refused the sink's identity on the checkpoint container ${this.url} (${status} ${code ?? ""})`.replace(" )", ")"),
        `Assign the identity ${CHECKPOINT_ROLE} on that container (or its storage account); Owner and Contributor are not enough, they carry no data access.`,
      );
    }
    if (status === 404) {
      return new UserError(`--checkpoint-store: no such container: ${this.url} (${code ?? "404"})`, ExitCode.usage, "Create it first (az storage container create --auth-mode login), or name an existing one.");
    }
    return undefined;
  }
}

/** An https URL of a container (`https://<account>.blob.core.windows.net/<container>`), without a SAS. */
export function checkContainerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UserError("--checkpoint-store: not a URL", ExitCode.usage, "Give the container's URL, e.g. https://<account>.blob.core.windows.net/<container>.");
  }
  if (url.protocol !== "https:") throw new UserError(`--checkpoint-store: ${url.origin} is not https`, ExitCode.usage, "Blob Storage takes Entra tokens over https only.");
  if (url.search || url.hash || url.username || url.password) {
    throw new UserError("--checkpoint-store: the URL carries a query, fragment or credentials (a SAS?)", ExitCode.usage, "Give the bare container URL: the sink signs in with its own identity.");
  }
  const segments = url.pathname.split("/").filter(Boolean);
  const container = segments.at(-1) ?? "";
  // Azure's rule: 3–63 lower-case letters, digits and single hyphens, starting and ending alphanumeric.
  if (!/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(container)) {
    throw new UserError(`--checkpoint-store: ${url.href} does not end in a container name`, ExitCode.usage, "Container names are 3 to 63 lower-case letters, digits and hyphens.");
  }
  return `${url.origin}/${segments.join("/")}`;
}
