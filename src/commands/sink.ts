import { mkdir } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CheckpointStore } from "@azure/event-hubs";
import { Flags } from "@oclif/core";
import { AegCommand, type CommandResult } from "../app/base-command.js";
import { environmentFlags } from "../app/flags.js";
import { openSession } from "../app/session.js";
import { DataverseClient } from "../azure/dataverse.js";
import { CORRELATION_KEY, DECISION_LOG_LOGICAL_NAME } from "../dataverse/decision-log-table.js";
import { RunLock } from "../engine/run-lock.js";
import { ExitCode, UserError } from "../errors.js";
import { CHECKPOINT_ROLE, SharedCheckpointStore } from "../sink/blob-checkpoint-store.js";
import { FileCheckpointStore } from "../sink/checkpoint-store.js";
import { ownerId, SINGLE_INSTANCE, sharedLoadBalancing } from "../sink/load-balancing.js";
import { exitWhenStopped } from "../sink/exit-guard.js";
import { DecisionSink, type SinkSummary } from "../sink/sink.js";
import { DecisionLogWriter } from "../sink/writer.js";
import { eventHubAddress } from "../azure/eventhubs.js";
import { DEFAULT_SINK_CONSUMER_GROUP, sinkConsumerGroup } from "../config/schema.js";

type SinkResult = CommandResult & { environment: string } & SinkSummary;

export default class Sink extends AegCommand<SinkResult> {
  static override summary = "Write the gateway's decision records from the Event Hub into fsi_aegdecisionlog";
  static override description = `A long-running consumer: reads every decision record from the telemetry Event Hub and upserts it into the Dataverse table fsi_aegdecisionlog on its correlation id, with the bulk message UpsertMultiple (one request per batch; $batch where the environment lacks it), as many requests at once as Dataverse's x-ms-dop-hint recommends, honouring its 429 Retry-After. Each partition is checkpointed in --checkpoint-dir only after its rows are written, so a restarted sink neither loses nor duplicates a row. Malformed events are logged (stderr, one line each) and counted, and never stop it.

Runs until SIGINT or SIGTERM (then writes what it has read, checkpoints and exits 0); --once drains what the hub holds now and exits. One sink per checkpoint directory.

To run several instances, give them one --checkpoint-store, a blob container: checkpoints and partition ownership live there, the instances share the hub's partitions through Event Hubs' load balancing, and those of an instance that dies go to the others once its claims expire (30 s). The sink's identity needs ${CHECKPOINT_ROLE} on the container (or its storage account).

It reads its own consumer group (telemetry.sinkConsumerGroup, made by aeg setup), because Event Hubs refuses readers without an epoch, such as aeg validate, on a group an event processor reads.

Exit codes: 0 stopped cleanly or drained (poison events included, they are counted), 1 unexpected error, 2 usage or configuration (the table or its key is missing, the consumer group is missing, another sink holds the directory, no such container), 3 authentication or permission (Event Hubs Data Receiver, Dataverse privileges, ${CHECKPOINT_ROLE}).`;
  static override examples = ["<%= config.bin %> sink --env prod", "<%= config.bin %> sink --once --json", "<%= config.bin %> sink --checkpoint-store https://<account>.blob.core.windows.net/aeg-sink-checkpoints"];

  static override flags = {
    ...environmentFlags,
    once: Flags.boolean({ description: "drain what the hub holds now, then exit (tests, cron)" }),
    "checkpoint-dir": Flags.string({ description: "where checkpoints are kept (default: .aeg/sink/<env>/); in a container, mount a volume here" }),
    "checkpoint-store": Flags.string({
      description: `a blob container URL for checkpoints and partition ownership, shared by any number of sink instances (the identity needs ${CHECKPOINT_ROLE} on it)`,
      exclusive: ["checkpoint-dir"],
    }),
    "consumer-group": Flags.string({ description: `Event Hubs consumer group (default: telemetry.sinkConsumerGroup, ${DEFAULT_SINK_CONSUMER_GROUP} unless set; $Default on the Basic tier), which aeg setup creates` }),
    "batch-size": Flags.integer({ description: "rows per UpsertMultiple (or $batch) request", default: 1000, min: 1, max: 1000 }),
    "max-parallel": Flags.integer({ description: "most write requests at once (default: Dataverse's x-ms-dop-hint); split the hint between sinks sharing one identity", min: 1 }),
    "flush-ms": Flags.integer({ description: "longest a read row waits before its batch is sent", default: 1000, min: 10 }),
  };

  protected async execute(): Promise<SinkResult> {
    const { flags } = await this.parse(Sink);
    const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    const session = await openSession(flags, { lock: false });
    let lock: RunLock | undefined;
    let stopOn: ((signal: NodeJS.Signals) => void) | undefined;
    try {
      const { config, cloud } = session;
      await requireTable(session.identity.dataverse(config.dataverse.url), config.dataverse.decisionLog.enabled);
      // Writes see every 429 themselves (no pipeline retry), so they can wait it out and count it.
      const dataverse = new DataverseClient(config.dataverse.url, session.credential, undefined, { maxRetries: 0 });

      let store: CheckpointStore;
      let where: string;
      const shared = flags["checkpoint-store"];
      if (shared) {
        const blob = await SharedCheckpointStore.open(shared, session.credential);
        store = blob;
        where = blob.url;
      } else {
        const dir = path.resolve(flags["checkpoint-dir"] ?? path.join(".aeg", "sink", session.environment));
        await mkdir(dir, { recursive: true });
        lock = await RunLock.acquire(path.join(dir, "sink.lock"));
        store = new FileCheckpointStore(dir);
        where = dir;
      }

      const named = flags["consumer-group"];
      const source = { ...eventHubAddress(config, cloud), consumerGroup: named ?? sinkConsumerGroup(config.telemetry), consumerGroupFrom: named ? "--consumer-group" : "telemetry.sinkConsumerGroup" };
      const writer = new DecisionLogWriter(dataverse, { baseDelayMs: 1000, maxTransientAttempts: 6, maxParallel: flags["max-parallel"], log, sleep: (ms) => sleep(ms) });
      const owner = ownerId();
      const loadBalancing = shared ? sharedLoadBalancing() : SINGLE_INSTANCE;
      const sink = new DecisionSink(source, session.credential, store, writer, { once: flags.once, batchSize: flags["batch-size"], flushIntervalMs: flags["flush-ms"], loadBalancing, ownerId: owner, log });
      // `on`, not `once`: write-file-atomic's signal-exit re-raises a signal when it finds no other
      // listener left, which would kill the sink in the middle of its graceful stop.
      stopOn = (signal: NodeJS.Signals) => {
        log(`${signal}: writing what was read, then stopping`);
        sink.stop();
      };
      process.on("SIGINT", stopOn);
      process.on("SIGTERM", stopOn);
      log(`sink: ${source.fullyQualifiedNamespace}/${source.eventHub} (${source.consumerGroup}) → ${config.dataverse.url} ${DECISION_LOG_LOGICAL_NAME}; checkpoints in ${where}${shared ? ` (owner ${owner})` : ""}`);
      const summary = await sink.run().finally(() => exitWhenStopped());
      return { status: "stopped", exitCode: ExitCode.ok, environment: session.environment, ...summary };
    } finally {
      if (stopOn) {
        process.off("SIGINT", stopOn);
        process.off("SIGTERM", stopOn);
      }
      await lock?.release();
      await session.close();
    }
  }

  protected text(result: SinkResult): void {
    process.stderr.write(`${new Date().toISOString()} ${sinkStoppedLine(result)}\n`);
  }
}

function sinkStoppedLine(s: SinkSummary): string {
  return `sink stopped: received ${s.received}, written ${s.written}, poison ${s.poison}, batches ${s.batches} (${s.writeMode}), throttled ${s.throttled}`;
}

/** The sink writes through the alternate key: without the table and an active key nothing can land. */
async function requireTable(dataverse: DataverseClient, enabled: boolean): Promise<void> {
  const table = await dataverse.tableMetadata(DECISION_LOG_LOGICAL_NAME);
  const key = table?.Keys.find((k) => k.KeyAttributes.length === 1 && k.KeyAttributes[0] === CORRELATION_KEY.attribute);
  if (!table || !key) {
    throw new UserError(
      `${DECISION_LOG_LOGICAL_NAME}: ${table ? "the table has no alternate key on fsi_correlationid" : "no such table"} in ${dataverse.environmentUrl}`,
      ExitCode.usage,
      enabled ? "Run aeg setup to create it." : "Set dataverse.decisionLog.enabled: true in aeg.yaml and run aeg setup to create it.",
    );
  }
  if (key.EntityKeyIndexStatus !== "Active") throw new UserError(`${DECISION_LOG_LOGICAL_NAME}: the correlation-id key is ${key.EntityKeyIndexStatus}, not Active`, ExitCode.usage, "Dataverse builds a new key in the background: wait a few minutes and start the sink again.");
}
